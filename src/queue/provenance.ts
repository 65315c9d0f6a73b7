import { contentHash } from '../core/index.js';
import type { CouchDoc } from '../couch/documents.js';

/**
 * What the queue remembers about one source document: per extension, the source content
 * and code it last ran with, what it produced, and whether it failed. It is what makes
 * "already done" a lookup by id instead of a re-run, and what tells which outputs went
 * stale. Bookkeeping, not an item: deleting it only costs a re-run.
 *
 * It is kept in the item's bookkeeping document (`rb!<key>`, see `bookkeepingId`), one
 * per key, beside the dependents index of that key's documents (dependents.ts): a
 * message's raw item, parsed email, body, quoted text and thread share one key, so one
 * lookup answers "already done?" and "who depends on this?" for all of them, and a
 * message costs about one bookkeeping document instead of one per schema and one per
 * dependency target (53 % of all stored documents before).
 */
export interface ProvenanceEntry {
  source_hash: string;
  code_hash: string;
  outputs: string[];
  /** The id of the rd.core.error document when the run failed. */
  error?: string;
  /** Documents the outputs declared as dependencies. */
  deps?: string[];
  /** For the dependencies the run read: the content hash it saw (`absent` for a document
   * that did not exist). A dependency that comes back on the feed with that same content
   * (typically written by an earlier extension of the same batch) re-triggers nothing. */
  seen?: Record<string, string>;
}

/**
 * How an entry is stored: the dependencies and the versions the run saw of them in one
 * map (`deps`: id -> version, `''` where the batch did not hold the document), instead
 * of a list and a map of the same ids. A conversation's run depends on hundreds of
 * documents (its members' threads, reverse indexes and user state), and those ids,
 * kept twice, were most of a message's bookkeeping document (12 KB mean, 52 KB largest
 * at 2,000 openwrt-devel messages), written, read back on the feed and loaded again by
 * every batch touching the message. Entries of the earlier form (`deps` a list, `seen`
 * a map) are still read.
 */
export interface StoredEntry {
  source_hash: string;
  code_hash: string;
  outputs: string[];
  error?: string;
  deps?: Record<string, string> | string[];
  seen?: Record<string, string>;
}

export function encodeEntry(entry: ProvenanceEntry): StoredEntry {
  const { deps, seen, ...rest } = entry;
  if (!deps || deps.length === 0) return rest;
  return { ...rest, deps: Object.fromEntries([...deps].sort().map((d) => [d, seen?.[d] ?? ''])) };
}

export function decodeEntry(stored: StoredEntry): ProvenanceEntry {
  const { deps, seen, ...rest } = stored;
  if (deps === undefined) return rest;
  if (Array.isArray(deps)) return { ...rest, deps, ...(seen ? { seen } : {}) };
  const ids = Object.keys(deps).sort();
  const versions = Object.fromEntries(Object.entries(deps).filter(([, v]) => v !== ''));
  return { ...rest, ...(ids.length > 0 ? { deps: ids } : {}), ...(Object.keys(versions).length > 0 ? { seen: versions } : {}) };
}

/** Decoded once per stored record (a batch asks for the same source's provenance once
 * per extension, and the dependents check again). */
const decoded = new WeakMap<Record<string, StoredEntry>, Record<string, ProvenanceEntry>>();

/** The provenance of one source document: extension id -> entry. */
export interface SourceProvenance {
  extensions: Record<string, ProvenanceEntry>;
}

/** One key's bookkeeping: provenance of its documents as sources, and who depends on them. */
export interface BookkeepingDoc extends CouchDoc {
  rd_bookkeeping_of: string;
  /** source document id -> extension id -> entry. */
  provenance?: Record<string, Record<string, StoredEntry>>;
  /** depended-on document id -> extension id -> source ids, sorted. */
  dependents?: Record<string, Record<string, string[]>>;
}

export const bookkeepingPrefix = 'rb!';
/** Prefixes of the per-(document) bookkeeping of earlier versions: still skipped on the
 * feed, never read (a database that has them re-runs once and leaves them behind). */
const legacyPrefixes = ['rp!', 'rdep!'];
/** Documents of the scale-out coordination (src/cluster: workers, leases, partition
 * checkpoints): never a source for an extension. */
export const coordinationPrefix = 'rk!';

/** The part of a document id that names its key: `rc!<type>.<value>!<schema>` without the
 * `rc!` and the schema. Ids of another shape (tests, the later_handler's source) stand for
 * themselves. */
export function keyPartOf(docId: string): string {
  const last = docId.lastIndexOf('!');
  return docId.startsWith('rc!') && last > 3 ? docId.slice(3, last) : docId;
}

/** The bookkeeping document holding the provenance of `docId` and its dependents. */
export function bookkeepingId(docId: string): string {
  return `${bookkeepingPrefix}${keyPartOf(docId)}`;
}

export function isBookkeeping(id: string): boolean {
  return id.startsWith(bookkeepingPrefix) || id.startsWith(coordinationPrefix) || id.startsWith('_design/') || legacyPrefixes.some((p) => id.startsWith(p));
}

/** The provenance of one source in a loaded bookkeeping document (undefined: not loaded;
 * null: none). */
export function provenanceIn(doc: CouchDoc | null | undefined, sourceId: string): SourceProvenance | null | undefined {
  if (doc === undefined) return undefined;
  const stored = (doc as BookkeepingDoc | null)?.provenance?.[sourceId];
  if (!stored) return null;
  let extensions = decoded.get(stored);
  if (!extensions) {
    extensions = Object.fromEntries(Object.entries(stored).map(([ext, e]) => [ext, decodeEntry(e)]));
    decoded.set(stored, extensions);
  }
  return { extensions };
}

/**
 * The next version of a bookkeeping document after one change to one source's entry for
 * one extension: a deletion when nothing is left, undefined when nothing changes.
 */
export function withProvenance(existing: CouchDoc | null | undefined, sourceId: string, extension: string, entry: ProvenanceEntry | null): CouchDoc | undefined {
  const doc = (existing ?? undefined) as BookkeepingDoc | undefined;
  const current = doc?.provenance?.[sourceId] ?? {};
  const before = current[extension];
  if (entry === null && before === undefined) return undefined;
  const stored = entry === null ? null : encodeEntry(entry);
  if (stored !== null && before !== undefined && JSON.stringify(before) === JSON.stringify(stored)) return undefined;
  const extensions = { ...current };
  if (stored === null) delete extensions[extension];
  else extensions[extension] = stored;
  const provenance = { ...(doc?.provenance ?? {}) };
  if (Object.keys(extensions).length === 0) delete provenance[sourceId];
  else provenance[sourceId] = sortKeys(extensions);
  return withParts(doc, bookkeepingId(sourceId), keyPartOf(sourceId), sortKeys(provenance), doc?.dependents);
}

/** Assembles a bookkeeping document from its two parts; empty parts are left out and a
 * document with neither is a deletion. */
export function withParts(
  existing: BookkeepingDoc | undefined,
  id: string,
  keyPart: string,
  provenance: BookkeepingDoc['provenance'],
  dependents: BookkeepingDoc['dependents'],
): CouchDoc {
  const hasProvenance = provenance !== undefined && Object.keys(provenance).length > 0;
  const hasDependents = dependents !== undefined && Object.keys(dependents).length > 0;
  const rev = existing?._rev ? { _rev: existing._rev } : {};
  if (!hasProvenance && !hasDependents) return { _id: id, ...rev, _deleted: true };
  return { _id: id, ...rev, rd_bookkeeping_of: keyPart, ...(hasProvenance ? { provenance } : {}), ...(hasDependents ? { dependents } : {}) };
}

export function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The hash of a source document's content as an extension sees it: everything but the
 * revision, with attachments reduced to type and length (their bytes are identified in
 * rd_schema_items), so an in-memory document of a batch and the same document read back
 * from the server hash the same.
 */
export function sourceHash(doc: CouchDoc): string {
  const { _rev, _revisions, _conflicts, _attachments, ...rest } = doc as CouchDoc & { _revisions?: unknown; _conflicts?: unknown };
  const attachments: Record<string, unknown> = {};
  for (const [name, att] of Object.entries(_attachments ?? {})) {
    attachments[name] = { content_type: att.content_type, length: att.length ?? (att.data !== undefined ? Buffer.from(att.data, 'base64').length : null) };
  }
  return contentHash({ ...rest, _attachments: attachments });
}
