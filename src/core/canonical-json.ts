import { RaindropError, errorCodes } from './errors.js';

/**
 * Canonical JSON, written down once: object keys sorted by UTF-16 code units (the order
 * of JavaScript's default sort, which the front end reproduces with the same one-liner),
 * no whitespace, numbers and strings as JSON.stringify writes them. Anything that is not
 * JSON data (undefined, functions, symbols, bigint, non-finite numbers, cycles) is
 * refused rather than silently dropped, because a dropped field would change an id.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set<object>(), '$');
}

function write(value: unknown, seen: Set<object>, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw notJson(path, String(value));
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw notJson(path, typeof value);
  }
  const obj = value as object;
  if (seen.has(obj)) throw notJson(path, 'a circular reference');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) parts.push(write(obj[i], seen, `${path}[${i}]`));
      return `[${parts.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw notJson(path, `an instance of ${obj.constructor?.name ?? 'a class'}`);
    }
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    const parts: string[] = [];
    for (const key of keys) {
      parts.push(`${JSON.stringify(key)}:${write(record[key], seen, `${path}.${key}`)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

function notJson(path: string, what: string): RaindropError {
  return new RaindropError(
    errorCodes.NOT_JSON,
    `${path} is ${what}, which is not JSON data; use null, a number, a string, a boolean, an array or a plain object`,
    { details: { path } },
  );
}
