import type { CouchDoc } from '../couch/documents.js';
import type { ProvenanceDoc } from './provenance.js';

/**
 * The reverse of the `deps` in provenance: for a document T, which (extension, source)
 * pairs declared a dependency on T, so a change to T re-runs them. Kept as one
 * bookkeeping document per T, `rdep!<T's id>`, written with the batch's outputs: finding
 * the dependents of a batch's documents is then one lookup by id, never a view query
 * (which would make the server index every document written since the last batch first).
 */
export interface DependentsDoc extends CouchDoc {
  rd_dependents_of: string;
  /** extension id -> source ids, sorted. */
  dependents: Record<string, string[]>;
}

export const dependentsPrefix = 'rdep!';

export function dependentsId(targetId: string): string {
  return `${dependentsPrefix}${targetId}`;
}

/** One change to a dependents document. */
export interface DependentChange {
  target: string;
  extension: string;
  source: string;
  add: boolean;
}

/** What changes between two versions of a provenance document, as dependents changes. */
export function dependentChanges(before: ProvenanceDoc | null | undefined, after: ProvenanceDoc | null | undefined, sourceId: string): DependentChange[] {
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

/** Applies one change; returns the next version (a deletion when nothing is left), or
 * undefined when the document does not change. */
export function applyDependentChange(existing: CouchDoc | null | undefined, change: DependentChange): CouchDoc | undefined {
  const id = dependentsId(change.target);
  const current = (existing as DependentsDoc | null | undefined)?.dependents ?? {};
  const list = current[change.extension] ?? [];
  const has = list.includes(change.source);
  if (has === change.add) return undefined;
  const nextList = change.add ? [...list, change.source].sort() : list.filter((s) => s !== change.source);
  const dependents = { ...current };
  if (nextList.length > 0) dependents[change.extension] = nextList;
  else delete dependents[change.extension];
  if (Object.keys(dependents).length === 0) return existing?._rev ? { _id: id, _rev: existing._rev, _deleted: true } : { _id: id, _deleted: true };
  return { _id: id, ...(existing?._rev ? { _rev: existing._rev } : {}), rd_dependents_of: change.target, dependents: Object.fromEntries(Object.entries(dependents).sort(([a], [b]) => (a < b ? -1 : 1))) };
}

/** (extension, source) pairs of a loaded dependents document. */
export function dependentsOf(doc: CouchDoc | null | undefined): Array<[string, string]> {
  const d = (doc as DependentsDoc | null | undefined)?.dependents ?? {};
  return Object.entries(d).flatMap(([extension, sources]) => sources.map((s) => [extension, s] as [string, string]));
}
