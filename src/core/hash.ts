import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** Hex SHA-256 of bytes or a UTF-8 string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The content hash of JSON data: SHA-256 of its canonical JSON. Two values with the same
 * fields in a different key order hash the same; this is what provenance compares.
 */
export function contentHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
