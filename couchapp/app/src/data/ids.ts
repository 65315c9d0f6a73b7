/**
 * Document ids from keys, as the back end computes them (src/core/keys.ts and
 * canonical-json.ts): `rc!<key type>.<base64url of the canonical JSON of the key
 * value>!<schema id>`. Canonical JSON sorts object keys with JavaScript's default sort
 * and writes no whitespace. This module has no dependencies so a front-end author can
 * copy it (it is also served as `ids.js` next to the app).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type RdKey = readonly [string, JsonValue];

export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${value} is not JSON data`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as JsonValue)}`).join(',')}}`;
}

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The id of the document holding schema `schemaId` for item `key`. */
export function docIdFor(key: RdKey, schemaId: string): string {
  return `rc!${key[0]}.${base64url(canonicalJson(key[1]))}!${schemaId}`;
}

/** The schema id at the end of a document id (what a `_changes` row names). */
export function schemaOfId(id: string): string | undefined {
  const bang = id.lastIndexOf('!');
  return id.startsWith('rc!') && bang > 2 ? id.slice(bang + 1) : undefined;
}

/** The first and last id of every document of one key type, for an `_all_docs` range. */
export function keyTypeRange(keyType: string): { startkey: string; endkey: string } {
  return { startkey: `rc!${keyType}.`, endkey: `rc!${keyType}.\ufff0` };
}

export const messageKey = (messageId: string): RdKey => ['email', messageId];
export const convKey = (firstId: string): RdKey => ['conv', firstId];
