import { createHash } from 'node:crypto';
import type { CouchDoc } from '../couch/documents.js';
import type { BatchWriter } from './batch-writer.js';
import { type QueueExtension, consumersOf } from './extension-set.js';
import { queueLimits } from './limits.js';
import { bookkeepingId } from './provenance.js';
import { hashOf, versionOf } from './source-versions.js';

/**
 * Revisions this queue wrote whose row on the changes feed (their echo) would do
 * nothing: every extension that consumes the document already ran on exactly this
 * content with its current code, and every dependent of it already saw exactly this
 * version. The feed hands such a row back later; the queue passes over it without
 * reading the document, its bookkeeping or its dependents again. A row whose revision
 * is not the one remembered (someone wrote the document since) is read as usual. Only
 * in memory: after a restart every echo is read as before, so a crash costs time, never
 * work.
 *
 * "Later" can be far: after an import the feed holds every raw message before the first
 * echo, so the echoes of a 50,000-message import wait behind ~500,000 rows. Each write
 * is therefore kept as two numbers, not two strings: a 31-bit key from the id (a small
 * integer, stored in the map without a heap number) and a 48-bit check of the id and
 * revision, in a preallocated ring that forgets the oldest. Two ids with one key only
 * make the older write's echo be read; a row is passed over only when its key and its
 * check both match (chance of a wrong match ~2^-48 per row, on top of a key collision).
 */
export class OwnWrites {
  /** Key -> the slot of the ring that holds its write. */
  private readonly slots = new Map<number, number>();
  /** The ring of remembered writes, oldest at `next` once full: the key (-1 for a slot
   * whose write was met or written again) and the check. Preallocated: 12 bytes a write. */
  private readonly keys: Int32Array;
  private readonly checks: Float64Array;
  private next = 0;

  constructor(private readonly capacity: number = queueLimits.ownWritesRemembered) {
    this.keys = new Int32Array(capacity).fill(-1);
    this.checks = new Float64Array(capacity);
  }

  remember(id: string, rev: string): void {
    if (this.capacity === 0) return;
    const key = idKey(id);
    const earlier = this.slots.get(key);
    if (earlier !== undefined) this.keys[earlier] = -1;
    // The ring, not the map's order, says which write is oldest: finding the oldest
    // entry of a Map walks past every entry deleted before it, which made remembering
    // quadratic (500,000 writes took two minutes).
    const slot = this.next;
    const oldest = this.keys[slot] ?? -1;
    // Oldest first: an echo not met by now was superseded or is read as usual.
    if (oldest !== -1) this.slots.delete(oldest);
    this.keys[slot] = key;
    this.checks[slot] = revCheck(id, rev);
    this.slots.set(key, slot);
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
  }

  /** Whether this feed row is the echo of a settled write (forgotten once met). */
  takeEcho(id: string, rev: string | undefined): boolean {
    if (rev === undefined) return false;
    const key = idKey(id);
    const slot = this.slots.get(key);
    if (slot === undefined || this.checks[slot] !== revCheck(id, rev)) return false;
    this.slots.delete(key);
    this.keys[slot] = -1;
    return true;
  }

  get size(): number {
    return this.slots.size;
  }
}

const idKey = (id: string): number => createHash('sha256').update(id).digest().readUInt32BE(0) & 0x7fffffff;
const revCheck = (id: string, rev: string): number => createHash('sha256').update(id).update('\n').update(rev).digest().readUIntBE(0, 6);

/**
 * Of the data documents a batch just wrote (`revs`, from its commit), those whose echo
 * would be a no-op, checked on the batch's own state with the very tests the echo's
 * batch would make (processBatch's provenance skip and enqueueDependents' `seen`
 * comparison). Anything not known for sure (a bookkeeping document not loaded, a
 * dependent whose provenance is missing) leaves the document to be read as usual.
 */
export async function settledWrites(ordered: readonly QueueExtension[], writer: BatchWriter, revs: ReadonlyMap<string, string>): Promise<Array<[string, string]>> {
  const written = [...revs.keys()]
    .map((id) => writer.get(id))
    .filter((doc): doc is CouchDoc => !!doc)
    .map((doc) => ({ doc, consumers: typeof doc.rd_schema_id === 'string' && doc.rd_schema_provider ? consumersOf(ordered, doc.rd_schema_id) : [] }));
  await writer.load(written.filter((w) => w.consumers.length > 0).map((w) => bookkeepingId(w.doc._id)));
  const ran = written
    .filter(({ doc, consumers }) =>
      consumers.every((ext) => {
        const entry = writer.provenance(doc._id)?.extensions[ext.declaration.id];
        return entry !== undefined && entry.source_hash === hashOf(doc) && entry.code_hash === ext.codeHash;
      }),
    )
    .map((w) => w.doc);
  const settled = (docs: readonly CouchDoc[]) => docs.map((doc): [string, string] => [doc._id, revs.get(doc._id) as string]);
  // As enqueueDependents: without an extension that declares dependencies there are none.
  if (!ordered.some((e) => e.declaration.uses_dependencies) || ran.length === 0) return settled(ran);
  await writer.loadDependents(ran.map((doc) => doc._id));
  await writer.load(ran.flatMap((doc) => writer.dependentsOf(doc._id).map(([, source]) => bookkeepingId(source))));
  return settled(ran.filter((doc) => writer.dependentsOf(doc._id).every(([ext, source]) => writer.provenance(source)?.extensions[ext]?.seen?.[doc._id] === versionOf(doc))));
}
