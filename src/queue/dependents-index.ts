import type { CouchDoc } from '../couch/documents.js';
import {
  type BucketDoc,
  bucketCandidates,
  bucketIdAt,
  bucketWith,
  childrenOf,
  depthOfBucket,
  divide,
  isBucketId,
  mergeDependents,
  needsSplit,
  subtractDependents,
} from './dependent-buckets.js';
import { type DependentChange, applyDependentChange, applyDependentChanges, dependentsOf } from './dependents.js';
import { queueLimits } from './limits.js';
import { type BookkeepingDoc, bookkeepingId, keyPartOf } from './provenance.js';

type Entries = NonNullable<BucketDoc['dependents']>;

/** The changes the index makes to a batch's documents, kept so that a 409 can replay them. */
export type DependentsOp =
  | { kind: 'dependent'; change: DependentChange }
  /** A split's child: the entries it took from its parent (a union on replay). */
  | { kind: 'bucket-merge'; entries: Entries }
  /** A split's parent: marked split without the entries its children took. */
  | { kind: 'bucket-split'; moved: Entries };

/** What the index needs of the batch's state (BatchWriter): documents as the batch
 * sees them, reading more of them, and recording a change to one. */
export interface BatchDocuments {
  get(id: string): CouchDoc | null | undefined;
  load(ids: Iterable<string>): Promise<void>;
  record(id: string, op: DependentsOp, next: CouchDoc | null, given: CouchDoc | null): void;
}

/**
 * The dependents index as one batch reads and changes it: each key's own `rb!<key>` and
 * the buckets on its path (dependent-buckets.ts). Its documents live in the batch's
 * state, so extensions of the batch and the commit see one copy of each.
 */
export class DependentsIndex {
  constructor(private readonly docs: BatchDocuments) {}

  /**
   * Loads everything that may hold dependents of these documents: their keys' `rb!<key>`
   * and the buckets on their keys' paths, a few depths per request, deeper only where a
   * bucket exists at the last depth read.
   */
  async load(targets: readonly string[]): Promise<void> {
    const byKey = [...new Map(targets.map((t) => [keyPartOf(t), t] as const)).values()];
    const window = queueLimits.dependentsBucketReadDepths;
    await this.docs.load([...byKey.map(bookkeepingId), ...byKey.flatMap((t) => bucketCandidates(t, 0, window - 1))]);
    let pending = byKey;
    for (let from = window; from <= queueLimits.dependentsBucketMaxDepth; from += window) {
      pending = pending.filter((t) => this.docs.get(bucketIdAt(t, from - 1)));
      if (pending.length === 0) return;
      await this.docs.load(pending.flatMap((t) => bucketCandidates(t, from, from + window - 1)));
    }
  }

  /** The (extension, source) pairs depending on `target`; `load` first. */
  of(target: string): Array<[string, string]> {
    return dependentsOf([this.docs.get(bookkeepingId(target)), ...this.bucketPath(target).map((id) => this.docs.get(id))], target);
  }

  /** Applies these changes (from the provenance a batch changed) to the documents that
   * hold them, then splits the buckets that passed their size. */
  async apply(changes: readonly DependentChange[]): Promise<void> {
    if (changes.length === 0) return;
    const targets = changes.map((c) => c.target);
    await this.load(targets);
    const byDestination = new Map<string, DependentChange[]>();
    for (const change of changes) {
      for (const id of this.destinationsOf(change)) byDestination.set(id, [...(byDestination.get(id) ?? []), change]);
    }
    const changedBuckets = new Set<string>();
    for (const [id, list] of byDestination) {
      const result = applyDependentChanges(this.docs.get(id), list, id);
      if (!result) continue;
      for (const change of result.applied) this.docs.record(id, { kind: 'dependent', change }, result.next._deleted ? null : result.next, result.next);
      if (isBucketId(id)) changedBuckets.add(id);
    }
    await this.splitBuckets(changedBuckets, targets);
  }

  /** The existing buckets on the path of `target`'s key, as far as loaded, shallowest first. */
  private bucketPath(target: string): string[] {
    const ids: string[] = [];
    for (let depth = 0; depth <= queueLimits.dependentsBucketMaxDepth; depth++) {
      const id = bucketIdAt(target, depth);
      const doc = this.docs.get(id);
      if (doc === undefined) break;
      if (doc) ids.push(id);
    }
    return ids;
  }

  /** Whether a bucket deeper than `id` exists on the path of any of these entries' targets. */
  private bucketPathBelow(id: string, entries: Record<string, unknown>): boolean {
    const depth = depthOfBucket(id);
    return Object.keys(entries).some((target) => this.bucketPath(target).some((p) => depthOfBucket(p) > depth));
  }

  /** Where one dependents change goes: an addition to the key's own `rb!<key>` when it
   * has provenance (a present message: its document is read and written anyway), else
   * to the deepest bucket of the path (its child on the path when that one is split, the
   * partition's root when there is none); a removal from every document holding it. */
  private destinationsOf(change: DependentChange): string[] {
    const own = bookkeepingId(change.target);
    const path = this.bucketPath(change.target);
    if (!change.add) return [own, ...path];
    const provenance = (this.docs.get(own) as BookkeepingDoc | null | undefined)?.provenance;
    if (provenance && Object.keys(provenance).length > 0) return [own];
    const deepest = path.at(-1);
    if (deepest === undefined) return [bucketIdAt(change.target, 0)];
    const depth = depthOfBucket(deepest);
    const split = (this.docs.get(deepest) as BucketDoc | null | undefined)?.split;
    return [split && depth < queueLimits.dependentsBucketMaxDepth ? bucketIdAt(change.target, depth + 1) : deepest];
  }

  /**
   * Splits the buckets this batch changed that passed the size limit, and finishes
   * splits a crash left half done on the paths read (a child exists, the parent is not
   * marked): each child gets its share of the parent's entries, then the parent is marked
   * split without them; the commit writes the children first.
   */
  private async splitBuckets(changed: Iterable<string>, targets: readonly string[]): Promise<void> {
    // `unfinished`: a deeper bucket on a path exists under a parent not marked split.
    const queue = [...changed].map((id) => ({ id, unfinished: false }));
    for (const target of targets) {
      const path = this.bucketPath(target);
      path.forEach((id, i) => {
        if (i < path.length - 1 && !(this.docs.get(id) as BucketDoc).split) queue.push({ id, unfinished: true });
      });
    }
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const { id, unfinished } = next;
      const doc = this.docs.get(id) as BucketDoc | null | undefined;
      if (!doc || doc.split) continue;
      const children = childrenOf(id);
      await this.docs.load(children);
      if (!needsSplit(doc, unfinished || children.some((c) => this.docs.get(c)))) continue;
      for (const [child, entries] of divide(doc)) {
        const existing = this.docs.get(child) as BucketDoc | null | undefined;
        const merged = bucketWith(existing, child, mergeDependents(existing?.dependents, entries), Boolean(existing?.split));
        this.docs.record(child, { kind: 'bucket-merge', entries }, merged, merged);
        queue.push({ id: child, unfinished: this.bucketPathBelow(child, entries) });
      }
      const parent = bucketWith(doc, id, {}, true);
      this.docs.record(id, { kind: 'bucket-split', moved: doc.dependents ?? {} }, parent, parent);
    }
  }
}

/**
 * One of the index's changes made again on a fresh copy of its document (after a 409).
 * Whatever another writer did to a bucket meanwhile stays: readers take the union of the
 * path, so a merge only adds and a split only takes out its own. Undefined: nothing to
 * change.
 */
export function replayDependentsOp(doc: CouchDoc | null, op: DependentsOp, id: string): CouchDoc | undefined {
  if (op.kind === 'dependent') return applyDependentChange(doc, op.change, id);
  const bucket = doc as BucketDoc | null;
  return op.kind === 'bucket-merge'
    ? bucketWith(bucket, id, mergeDependents(bucket?.dependents, op.entries), Boolean(bucket?.split))
    : bucketWith(bucket, id, subtractDependents(bucket?.dependents, op.moved), true);
}
