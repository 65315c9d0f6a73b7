import type { CouchDoc } from '../couch/documents.js';
import { type BookkeepingDoc, type SourceProvenance, bookkeepingId, keyPartOf, sortKeys, withParts } from './provenance.js';

/**
 * The reverse of the `deps` in provenance: for a document T, which (extension, source)
 * pairs declared a dependency on T, so a change to T re-runs them. Kept in the
 * bookkeeping document of T's key (`rb!<key>`, `dependents[T]`: extension -> sources),
 * written with the batch's provenance: finding the dependents of a batch's documents is
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

/** Applies one change to the bookkeeping document of the target's key; returns the next
 * version (a deletion when nothing is left), or undefined when it does not change. */
export function applyDependentChange(existing: CouchDoc | null | undefined, change: DependentChange): CouchDoc | undefined {
  const doc = (existing ?? undefined) as BookkeepingDoc | undefined;
  const current = doc?.dependents?.[change.target] ?? {};
  const list = current[change.extension] ?? [];
  const has = list.includes(change.source);
  if (has === change.add) return undefined;
  const nextList = change.add ? [...list, change.source].sort() : list.filter((s) => s !== change.source);
  const byExtension = { ...current };
  if (nextList.length > 0) byExtension[change.extension] = nextList;
  else delete byExtension[change.extension];
  const dependents = { ...(doc?.dependents ?? {}) };
  if (Object.keys(byExtension).length > 0) dependents[change.target] = sortKeys(byExtension);
  else delete dependents[change.target];
  return withParts(doc, bookkeepingId(change.target), keyPartOf(change.target), doc?.provenance, sortKeys(dependents));
}

/** (extension, source) pairs that depend on `target`, from its loaded bookkeeping document. */
export function dependentsOf(doc: CouchDoc | null | undefined, target: string): Array<[string, string]> {
  const d = (doc as BookkeepingDoc | null | undefined)?.dependents?.[target] ?? {};
  return Object.entries(d).flatMap(([extension, sources]) => sources.map((s) => [extension, s] as [string, string]));
}
