import type { CouchDoc } from '../couch/documents.js';
import { sourceHash } from './provenance.js';

/** A document consumed by several extensions of a batch is hashed once. */
const hashes = new WeakMap<CouchDoc, string>();

/** A source's content hash as provenance keeps it (`sourceHash`, cached per object). */
export function hashOf(doc: CouchDoc): string {
  let hash = hashes.get(doc);
  if (hash === undefined) {
    hash = sourceHash(doc);
    hashes.set(doc, hash);
  }
  return hash;
}

/** A dependency's version as provenance keeps it: short, since a conversation's run may
 * depend on hundreds of documents. */
export function versionOf(doc: CouchDoc | null): string {
  return doc === null ? 'absent' : hashOf(doc).slice(0, 16);
}
