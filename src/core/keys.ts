import { canonicalJson } from './canonical-json.js';
import { RaindropError, errorCodes } from './errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An item's name: `[type, value]`, e.g. `["email", "abc@example.org"]`. */
export type RdKey = readonly [type: string, value: JsonValue];

/** A key type is one lower-case word: it appears unescaped in document ids. */
const keyTypePattern = /^[a-z][a-z0-9_-]*$/;
/** Schema ids are dot-separated lower-case words, e.g. `rd.msg.body.quoted`. */
const schemaIdPattern = /^[a-z][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*$/;
const idPrefix = 'rc!';

export function assertKey(key: unknown): asserts key is RdKey {
  if (!Array.isArray(key) || key.length !== 2) {
    throw new RaindropError(
      errorCodes.INVALID_KEY,
      `a key must be a two-element array [type, value], got ${describe(key)}`,
    );
  }
  const [type, value] = key as unknown[];
  if (typeof type !== 'string' || !keyTypePattern.test(type)) {
    throw new RaindropError(
      errorCodes.INVALID_KEY,
      `the key type ${describe(type)} is not valid; use a lower-case word such as "email" or "identity"`,
    );
  }
  if (value === undefined) {
    throw new RaindropError(errorCodes.INVALID_KEY, `the key value of a "${type}" key is missing`);
  }
  canonicalJson(value); // refuses anything that is not JSON data
}

export function assertSchemaId(schemaId: unknown): asserts schemaId is string {
  if (typeof schemaId !== 'string' || !schemaIdPattern.test(schemaId)) {
    throw new RaindropError(
      errorCodes.INVALID_SCHEMA_ID,
      `the schema id ${describe(schemaId)} is not valid; use dot-separated lower-case words such as "rd.msg.email"`,
    );
  }
}

/**
 * The deterministic document id of a (key, schema) pair:
 * `rc!<key type>.<base64url of the canonical JSON of the key value>!<schema id>`.
 * "Does schema S exist for item K" is then a lookup by id, never a view query.
 */
export function docIdFor(key: RdKey, schemaId: string): string {
  assertKey(key);
  assertSchemaId(schemaId);
  return `${idPrefix}${key[0]}.${encodeKeyValue(key[1])}!${schemaId}`;
}

/** The base64url (no padding) of the canonical JSON of a key value. */
export function encodeKeyValue(value: JsonValue): string {
  return Buffer.from(canonicalJson(value), 'utf8').toString('base64url');
}

/** The inverse of `docIdFor`. Refuses any id Raindrop would not compute. */
export function parseDocId(id: string): { key: RdKey; schemaId: string } {
  const fail = (why: string): never => {
    throw new RaindropError(errorCodes.INVALID_DOC_ID, `"${id}" is not a Raindrop document id: ${why}`);
  };
  if (!id.startsWith(idPrefix)) fail(`it does not start with "${idPrefix}"`);
  const rest = id.slice(idPrefix.length);
  const dot = rest.indexOf('.');
  const bang = rest.indexOf('!', dot + 1);
  if (dot < 0 || bang < 0) fail('expected rc!<type>.<value>!<schema>');
  const type = rest.slice(0, dot);
  const encoded = rest.slice(dot + 1, bang);
  const schemaId = rest.slice(bang + 1);
  if (!keyTypePattern.test(type)) fail(`the key type "${type}" is not valid`);
  if (!schemaIdPattern.test(schemaId)) fail(`the schema id "${schemaId}" is not valid`);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) fail('the key value is not base64url');
  let value: JsonValue;
  try {
    value = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as JsonValue;
  } catch (cause) {
    throw new RaindropError(errorCodes.INVALID_DOC_ID, `"${id}" is not a Raindrop document id: its key value is not JSON`, { cause });
  }
  // Only the canonical encoding names a document; anything else would alias one.
  if (encodeKeyValue(value) !== encoded) fail('its key value is not in canonical form');
  return { key: [type, value], schemaId };
}

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}
