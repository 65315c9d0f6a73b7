import type { CouchDoc } from '../couch/documents.js';
import { type BucketDoc, bucketWith, isBucketId } from './dependent-buckets.js';
import { type BookkeepingDoc, type SourceProvenance, bookkeepingId, keyPartOf, sortKeys, withParts } from './provenance.js';

/**
 * The reverse of the `deps` in provenance: for a document T, which (extension, source)
 * pairs declared a dependency on T, so a change to T re-runs them. Kept in the
 * bookkeeping document of T's key (`rb!<key>`, `dependents[T]`: extension -> sources)
 * when that key has provenance (a present message), else in the dependents bucket of
 * T's key (dependent-buckets.ts); read from both, written with the batch's provenance: finding the dependents of a batch's documents is
 * then one lookup by id per key, never a view query (which would make the server index
 * every document written since the last batch first).
 */

/** One change to the dependents of one document. */
export interface DependentChange {
  target: string;
  extension: string;
  source: string;
  add: boolean;
}

/** What changes between two versions of one source's provenance, as dependents changes. */
export function dependentChanges(before: SourceProvenance | null | undefined, after: SourceProvenance | null | undefined, sourceId: string): DependentChange[] {
  const changes: DependentChange[] = [];
  const extensions = new Set([...Object.keys(before?.extensions ?? {}), ...Object.keys(after?.extensions ?? {})]);
  for (const extension of extensions) {
    const old = new Set(before?.extensions[extension]?.deps ?? []);
    const now = new Set(after?.extensions[extension]?.deps ?? []);
    for (const target of old) if (!now.has(target)) changes.push({ target, extension, source: sourceId, add: false });
    for (const target of now) if (!old.has(target)) changes.push({ target, extension, source: sourceId, add: true });
  }
  return changes;
}

/** Applies one change to a document holding dependents (the bookkeeping document of the
 * target's key, or a bucket `id`); returns the next version (for the former a deletion
 * when nothing is left), or undefined when it does not change. */
export function applyDependentChange(existing: CouchDoc | null | undefined, change: DependentChange, id: string = bookkeepingId(change.target)): CouchDoc | undefined {
  return applyDependentChanges(existing, [change], id)?.next;
}

/** Applies changes to one document in one pass (a bucket may take thousands in a batch:
 * copying and sorting it once per change was quadratic); `applied` are those that
 * changed something, in order. */
export function applyDependentChanges(existing: CouchDoc | null | undefined, changes: readonly DependentChange[], id: string): { next: CouchDoc; applied: DependentChange[] } | undefined {
  const doc = (existing ?? undefined) as BookkeepingDoc | undefined;
  const dependents: Record<string, Record<string, string[]>> = { ...(doc?.dependents ?? {}) };
  const copied = new Set<string>();
  const applied: DependentChange[] = [];
  for (const change of changes) {
    if (!copied.has(change.target)) {
      dependents[change.target] = { ...(dependents[change.target] ?? {}) };
      copied.add(change.target);
    }
    const byExtension = dependents[change.target] as Record<string, string[]>;
    const list = byExtension[change.extension] ?? [];
    if (list.includes(change.source) === change.add) continue;
    applied.push(change);
    const nextList = change.add ? [...list, change.source].sort() : list.filter((s) => s !== change.source);
    if (nextList.length > 0) byExtension[change.extension] = nextList;
    else delete byExtension[change.extension];
  }
  for (const target of copied) {
    const byExtension = dependents[target] as Record<string, string[]>;
    if (Object.keys(byExtension).length > 0) dependents[target] = sortKeys(byExtension);
    else delete dependents[target];
  }
  if (applied.length === 0) return undefined;
  const first = applied[0] as DependentChange;
  const next = isBucketId(id)
    ? bucketWith(doc, id, dependents, Boolean((doc as BucketDoc | undefined)?.split))
    : withParts(doc, bookkeepingId(first.target), keyPartOf(first.target), doc?.provenance, sortKeys(dependents));
  return { next, applied };
}

/** (extension, source) pairs that depend on `target`: the union over the loaded
 * documents that may hold its entries (its key's `rb!<key>` and buckets), each pair once. */
export function dependentsOf(docs: ReadonlyArray<CouchDoc | null | undefined>, target: string): Array<[string, string]> {
  const pairs = new Map<string, [string, string]>();
  for (const doc of docs) {
    const d = (doc as BookkeepingDoc | null | undefined)?.dependents?.[target] ?? {};
    for (const [extension, sources] of Object.entries(d)) for (const s of sources) pairs.set(`${extension}\u0000${s}`, [extension, s]);
  }
  return [...pairs.values()];
}
