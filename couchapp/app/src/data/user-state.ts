/**
 * The user's contribution to a user-state document (rd.msg.seen, rd.msg.flagged, ...),
 * merged exactly as the back end's schema-item model does it (src/couch/schema-items/
 * merge.ts, writer "user", provider, confidence 2): the same document `raindrop mark`
 * writes, with the content hash IMAP sync uses to send each change once. A unit test
 * compares this with the back end's merge.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { canonicalJson, docIdFor, type JsonValue, type RdKey } from './ids.js';

export const userWriter = 'user';
export const userConfidence = 2;

export interface StoredItem {
  rd_source: null | { id: string; hash: string };
  category: 'provider' | 'extender';
  confidence: number;
  schema_version: number;
  content_hash: string;
  fields?: Record<string, JsonValue>;
  [other: string]: JsonValue | undefined;
}

export interface CouchDoc {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  rd_key?: JsonValue;
  rd_schema_id?: string;
  rd_schema_items?: Record<string, StoredItem>;
  _attachments?: Record<string, { content_type: string; length?: number; digest?: string; stub?: boolean }>;
  [field: string]: unknown;
}

type Full = StoredItem & { fields: Record<string, JsonValue> };

function topLevelFields(doc: CouchDoc): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(doc)) if (!k.startsWith('_') && !k.startsWith('rd_')) out[k] = v as JsonValue;
  return out;
}

function itemsOf(doc: CouchDoc | undefined): Map<string, Full> {
  const stored = doc?.rd_schema_items ?? {};
  const writers = Object.keys(stored);
  const items = new Map<string, Full>();
  for (const w of writers) {
    const item = stored[w] as StoredItem;
    items.set(w, { ...item, fields: item.fields ?? (writers.length === 1 && doc ? topLevelFields(doc) : {}) });
  }
  return items;
}

/**
 * The next document for the user's `fields` on (key, schema), or undefined when the
 * stored document already holds exactly that contribution (nothing to write).
 */
export function applyUserItem(existing: CouchDoc | undefined, key: RdKey, schemaId: string, fields: Record<string, JsonValue>): CouchDoc | undefined {
  const base = { rd_source: null, category: 'provider' as const, confidence: userConfidence, schema_version: 1 };
  const hash = bytesToHex(sha256(new TextEncoder().encode(canonicalJson({ ...base, fields }))));
  const items = itemsOf(existing?._deleted ? undefined : existing);
  if (items.get(userWriter)?.content_hash === hash) return undefined;
  items.set(userWriter, { ...base, content_hash: hash, fields });
  const order = [...items.keys()].sort((a, b) => {
    const ca = items.get(a)?.confidence ?? 0;
    const cb = items.get(b)?.confidence ?? 0;
    return ca !== cb ? ca - cb : a < b ? -1 : a > b ? 1 : 0;
  });
  const merged: Record<string, JsonValue> = {};
  let provider: string | undefined;
  for (const w of order) {
    const item = items.get(w) as Full;
    Object.assign(merged, item.fields);
    if (item.category === 'provider') provider = w;
  }
  const several = items.size > 1;
  const storedItems: Record<string, StoredItem> = {};
  for (const w of [...items.keys()].sort()) {
    const { fields: own, ...rest } = items.get(w) as Full;
    storedItems[w] = several ? { ...rest, fields: own } : rest;
  }
  const doc: CouchDoc = {
    _id: docIdFor(key, schemaId),
    ...(existing?._rev ? { _rev: existing._rev } : {}),
    rd_key: key as unknown as JsonValue,
    rd_schema_id: schemaId,
    rd_schema_version: 1,
    ...(provider === undefined ? {} : { rd_schema_provider: provider }),
    rd_schema_items: storedItems,
    ...merged,
  };
  if (existing?._attachments && !existing._deleted) {
    const stubs: NonNullable<CouchDoc['_attachments']> = {};
    for (const [name, a] of Object.entries(existing._attachments)) stubs[name] = { content_type: a.content_type, stub: true, ...(a.length === undefined ? {} : { length: a.length }), ...(a.digest === undefined ? {} : { digest: a.digest }) };
    doc._attachments = stubs;
  }
  return doc;
}
