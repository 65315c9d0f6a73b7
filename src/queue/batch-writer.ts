import { RaindropError, errorCodes } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { bulkWrite } from '../couch/bulk-write.js';
import { callCouch, type Db } from '../couch/connect.js';
import { statusOf } from '../couch/couch-error.js';
import type { CouchDoc } from '../couch/documents.js';
import { couchLimits } from '../couch/limits.js';
import { type PendingUpload, applyItem, removeItem } from '../couch/schema-items/merge.js';
import type { SchemaItemInput } from '../couch/schema-items/model.js';
import { type DependentChange, dependentChanges } from './dependents.js';
import { DependentsIndex, type DependentsOp, replayDependentsOp } from './dependents-index.js';
import { type ProvenanceEntry, type SourceProvenance, bookkeepingId, isBookkeeping, keyPartOf, provenanceIn, withProvenance } from './provenance.js';

type Op =
  | { kind: 'item'; input: SchemaItemInput }
  | { kind: 'remove'; writer: string }
  | { kind: 'provenance'; sourceId: string; extension: string; entry: ProvenanceEntry | null }
  | DependentsOp;

/**
 * The in-memory state of one batch: every document the batch read or changed, with the
 * operations that changed it. Extensions of the batch read their own writes from here;
 * `commit` writes the changed documents with `_bulk_docs` and, on a 409, re-reads the
 * document and replays its operations on the fresh copy.
 */
export class BatchWriter {
  private readonly state = new Map<string, CouchDoc | null>();
  /** Reads under way, by id (`load`). */
  private readonly loading = new Map<string, Promise<void>>();
  private readonly ops = new Map<string, Op[]>();
  private readonly uploads = new Map<string, PendingUpload[]>();
  private readonly attachments = new Map<string, Buffer>();
  /** The revision stored on the server, by id: a document this batch deletes and then
   * creates again must be written as an update of that revision, or the server says 409
   * on every retry. */
  private readonly storedRevs = new Map<string, string>();
  /** Each source's provenance as it was before this batch changed it (dependents diff). */
  private readonly provenanceBefore = new Map<string, SourceProvenance | null>();

  /** The dependents index (dependents-index.ts), on this batch's copies of its documents. */
  private readonly dependents = new DependentsIndex({
    get: (id) => this.state.get(id),
    load: (ids) => this.load(ids),
    record: (id, op, next, given) => this.record(id, op, next, given),
  });

  constructor(private readonly db: Db) {}

  /** Makes the stored versions of these documents known (one request for all). */
  async load(ids: Iterable<string>): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.state.has(id));
    // Extensions of one cascade step load at the same time, mostly the same bookkeeping
    // documents: what another load is already reading is waited for, not read again.
    const underWay = new Set(wanted.flatMap((id) => this.loading.get(id) ?? []));
    const missing = wanted.filter((id) => !this.loading.has(id));
    if (missing.length > 0) {
      const read = this.read(missing);
      for (const id of missing) this.loading.set(id, read);
      underWay.add(read);
    }
    await Promise.all(underWay);
  }

  private async read(missing: readonly string[]): Promise<void> {
    let found: Map<string, CouchDoc>;
    try {
      found = await bulkGet(this.db, missing);
    } finally {
      for (const id of missing) this.loading.delete(id);
    }
    for (const id of missing) {
      // A document set meanwhile (seeded, or changed by a step) is the current copy.
      if (this.state.has(id)) continue;
      const doc = found.get(id) ?? null;
      this.state.set(id, doc);
      if (doc?._rev) this.storedRevs.set(id, doc._rev);
    }
  }

  /** Seeds the state with documents already in hand (the batch's sources). */
  seed(docs: Iterable<CouchDoc>): void {
    for (const doc of docs) {
      if (this.state.has(doc._id)) continue;
      this.state.set(doc._id, doc);
      if (doc._rev) this.storedRevs.set(doc._id, doc._rev);
    }
  }

  /** The current document (undefined: not loaded; null: does not exist). */
  get(id: string): CouchDoc | null | undefined {
    return this.state.get(id);
  }

  /** Attachment bytes fetched ahead for this batch (see prefetch.ts). */
  cacheAttachment(id: string, name: string, bytes: Buffer): void {
    this.attachments.set(`${id}\u0000${name}`, bytes);
  }

  cachedAttachment(id: string, name: string): Buffer | undefined {
    return this.attachments.get(`${id}\u0000${name}`);
  }

  /** Applies one writer's item; the document must have been loaded. */
  applyItem(id: string, input: SchemaItemInput): { doc: CouchDoc; changed: boolean } {
    const current = this.state.get(id) ?? undefined;
    const merged = applyItem(current, input);
    if (!merged.changed) return { doc: merged.doc, changed: false };
    this.record(id, { kind: 'item', input }, merged.doc);
    if (merged.uploads.length > 0) this.uploads.set(id, merged.uploads);
    return { doc: merged.doc, changed: true };
  }

  removeItem(id: string, writer: string): boolean {
    const current = this.state.get(id);
    if (!current) return false;
    const next = removeItem(current, writer);
    if (!next.changed) return false;
    this.record(id, { kind: 'remove', writer }, next.doc._deleted ? null : next.doc, next.doc);
    return true;
  }

  /** A source's provenance; its bookkeeping document (`bookkeepingId`) must have been
   * loaded (undefined: not loaded; null: none). */
  provenance(sourceId: string): SourceProvenance | null | undefined {
    return provenanceIn(this.state.get(bookkeepingId(sourceId)), sourceId);
  }

  /** Loads everything that may hold dependents of these documents (DependentsIndex.load). */
  loadDependents(targets: readonly string[]): Promise<void> {
    return this.dependents.load(targets);
  }

  /** The (extension, source) pairs depending on `target`; `loadDependents` first. */
  dependentsOf(target: string): Array<[string, string]> {
    return this.dependents.of(target);
  }

  setProvenance(sourceId: string, extension: string, entry: ProvenanceEntry | null): void {
    const id = bookkeepingId(sourceId);
    if (!this.provenanceBefore.has(sourceId)) this.provenanceBefore.set(sourceId, this.provenance(sourceId) ?? null);
    const next = withProvenance(this.state.get(id), sourceId, extension, entry);
    if (next) this.record(id, { kind: 'provenance', sourceId, extension, entry }, next._deleted ? null : next, next);
  }

  get pendingWrites(): number {
    return this.ops.size;
  }

  /**
   * Writes every changed document; returns how many were written. Provenance goes last,
   * in its own requests: it says "done", so it must never reach the server before the
   * outputs it vouches for (a crash between chunks would otherwise lose them for good).
   *
   * `fence` (a cluster worker's lease check) is asked before every write request after
   * the first (the caller checked just before the first): a worker that lost its lease
   * while the commit was under way, or paused in it, stops there, as a crash would,
   * instead of replaying a 409 with counts computed from what it read before the new
   * owner wrote. The window left is one request's flight, not a whole commit.
   */
  async commit(fence?: () => Promise<boolean>): Promise<CommitResult> {
    this.fence = fence;
    this.requests = 0;
    this.writtenCount = 0;
    this.writtenRevs.clear();
    try {
      return await this.commitAll();
    } catch (err) {
      if (err instanceof FenceLost) return { written: err.written, refused: true, revs: new Map() };
      throw err;
    } finally {
      this.fence = undefined;
    }
  }

  private fence: (() => Promise<boolean>) | undefined;
  /** Write requests and documents written so far by the commit under way. */
  private requests = 0;
  private writtenCount = 0;
  /** The revision each data document (not bookkeeping) has after the commit under way. */
  private readonly writtenRevs = new Map<string, string>();

  private async commitAll(): Promise<CommitResult> {
    await this.updateDependents();
    const ids = [...this.ops.keys()];
    // Bookkeeping documents that carry a dependents change go before the others: a
    // provenance entry declaring deps must not reach the server before the index entries
    // that make a change to those deps re-trigger it. A split bucket's children go before
    // the parent that no longer holds their entries.
    const carries = (id: string, kinds: ReadonlyArray<Op['kind']>) => (this.ops.get(id) ?? []).some((op) => kinds.includes(op.kind));
    const bookkeeping = ids.filter(isBookkeeping);
    const splits = bookkeeping.filter((id) => carries(id, ['bucket-split']));
    const entries = bookkeeping.filter((id) => !carries(id, ['bucket-split']) && carries(id, ['dependent', 'bucket-merge']));
    const written =
      (await this.commitIds(groupedByKey(ids.filter((id) => !isBookkeeping(id))))) +
      (await this.commitIds(entries)) +
      (await this.commitIds(splits)) +
      (await this.commitIds(bookkeeping.filter((id) => !carries(id, ['bucket-split', 'dependent', 'bucket-merge']))));
    this.ops.clear();
    this.outgoing.clear();
    this.provenanceBefore.clear();
    return { written, refused: false, revs: new Map(this.writtenRevs) };
  }

  /** The dependents index follows the deps of the provenance this batch changed; it is
   * written after the outputs and before (or with) the provenance that declares it (an
   * extra entry after a crash only costs a re-run; a missing one would lose a re-trigger). */
  private async updateDependents(): Promise<void> {
    const changes: DependentChange[] = [...this.provenanceBefore].flatMap(([sourceId, before]) => dependentChanges(before, this.provenance(sourceId), sourceId));
    await this.dependents.apply(changes);
  }

  private async commitIds(ids: string[]): Promise<number> {
    let pending = ids;
    let written = 0;
    for (let round = 0; pending.length > 0; round++) {
      if (round > couchLimits.conflictRetries) {
        throw new RaindropError(errorCodes.COUCH_CONFLICT, `documents kept conflicting while the queue wrote them: ${pending.slice(0, 5).join(', ')}; another process keeps rewriting them`);
      }
      if (round > 0) await this.replay(pending);
      const docs = pending.map((id) => this.outgoing.get(id)).filter((d): d is CouchDoc => d !== undefined);
      if (this.requests++ > 0 && this.fence && !(await this.fence())) throw new FenceLost(this.writtenCount);
      const results = await bulkWrite(this.db, docs);
      const conflicted: string[] = [];
      for (const result of results) {
        if (result.ok) {
          written++;
          this.writtenCount++;
          const rev = await this.upload(result.id, result.rev);
          if (!isBookkeeping(result.id) && this.state.get(result.id)) this.writtenRevs.set(result.id, rev);
        } else if (result.conflict) {
          conflicted.push(result.id);
        } else {
          throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${result.id} failed: ${result.error}: ${result.reason}`);
        }
      }
      pending = conflicted;
    }
    return written;
  }

  /** The documents as they will be written (deletions included). */
  private readonly outgoing = new Map<string, CouchDoc>();

  private record(id: string, op: Op, next: CouchDoc | null, given: CouchDoc | null = next): void {
    const outgoing = withStoredRev(given, this.storedRevs.get(id));
    this.state.set(id, next);
    // A document created and deleted within the batch never needs to reach the server.
    if (outgoing && outgoing._deleted && !outgoing._rev) this.outgoing.delete(id);
    else if (outgoing) this.outgoing.set(id, outgoing);
    const list = this.ops.get(id) ?? [];
    list.push(op);
    this.ops.set(id, list);
  }

  /** A 409: someone else wrote the document. Re-read it and replay our operations. */
  private async replay(ids: string[]): Promise<void> {
    const fresh = await bulkGet(this.db, ids);
    for (const id of ids) {
      let doc: CouchDoc | null = fresh.get(id) ?? null;
      let out: CouchDoc | undefined;
      for (const op of this.ops.get(id) ?? []) {
        if (op.kind === 'item') {
          const merged = applyItem(doc ?? undefined, op.input);
          if (merged.uploads.length > 0) this.uploads.set(id, merged.uploads);
          doc = merged.doc;
          out = merged.doc;
        } else if (op.kind === 'remove') {
          if (!doc) continue;
          const next = removeItem(doc, op.writer);
          out = next.doc;
          doc = next.doc._deleted ? null : next.doc;
        } else if (op.kind === 'dependent' || op.kind === 'bucket-merge' || op.kind === 'bucket-split') {
          const next = replayDependentsOp(doc, op, id);
          if (next) {
            out = next;
            doc = next._deleted ? null : next;
          }
        } else {
          const next = withProvenance(doc, op.sourceId, op.extension, op.entry);
          if (next) {
            out = next;
            doc = next._deleted ? null : next;
          }
        }
      }
      const stored = fresh.get(id)?._rev;
      if (stored) this.storedRevs.set(id, stored);
      else this.storedRevs.delete(id);
      out = withStoredRev(out ?? null, stored) ?? undefined;
      this.state.set(id, doc);
      if (out && !(out._deleted && !out._rev)) this.outgoing.set(id, out);
      else this.outgoing.delete(id);
    }
  }

  /** Uploads the document's pending attachments; returns its revision after them. */
  private async upload(id: string, rev: string): Promise<string> {
    let current = rev;
    for (const upload of this.uploads.get(id) ?? []) {
      current = await callCouch(this.db.couch, `uploading attachment ${upload.name} of ${id}`, async () => {
        try {
          const res = (await this.db.scope.attachment.insert(id, upload.name, Buffer.from(upload.data), upload.contentType, { rev: current })) as unknown;
          const body = (typeof res === 'string' ? JSON.parse(res) : res) as { rev: string };
          return body.rev;
        } catch (err) {
          if (statusOf(err) === 409) throw new RaindropError(errorCodes.COUCH_CONFLICT, `attachment ${upload.name} of ${id} conflicted; the next run repairs it`);
          throw err;
        }
      });
    }
    this.uploads.delete(id);
    return current;
  }
}

/**
 * The ids in the order of their keys' first appearance, each key's documents together.
 * Every output comes back on the changes feed in write order, and the feed's batch looks
 * up the bookkeeping document of each key it holds (dependents, then provenance). Written
 * schema by schema (all emails, then all bodies, ...), a message's ~10 outputs came back
 * in ~10 different batches, and its bookkeeping document (~12 KB, growing with its
 * conversation) was read ~10 times: on openwrt-devel the re-read outputs loaded 116 KB of
 * bookkeeping per message, 70 % of the time spent on them. Written together they mostly
 * share a feed batch and one read. Order within a stage is no promise (a crash between
 * chunks repeats work whatever the order).
 */
function groupedByKey(ids: readonly string[]): string[] {
  const byKey = new Map<string, string[]>();
  for (const id of ids) {
    const key = keyPartOf(id);
    const group = byKey.get(key);
    if (group) group.push(id);
    else byKey.set(key, [id]);
  }
  return [...byKey.values()].flat();
}

/** What a commit did: `refused` when its fence failed part way (what was written by then
 * stays, as after a crash; the new owner redoes the batch). */
export interface CommitResult {
  written: number;
  refused: boolean;
  /** The revision each data document written (and not deleted) has on the server now,
   * by id: what its row on the changes feed will carry (see own-writes.ts). */
  revs: ReadonlyMap<string, string>;
}

/** Unwinds a commit whose fence failed; never leaves BatchWriter. */
class FenceLost extends Error {
  constructor(readonly written: number) {
    super('the lease moved on during the commit');
  }
}

/** A document written without a revision where the server holds one (deleted and made
 * again within the batch) updates that revision instead. */
function withStoredRev(doc: CouchDoc | null, stored: string | undefined): CouchDoc | null {
  return doc && !doc._rev && stored ? { ...doc, _rev: stored } : doc;
}
