import { callCouch, type Db } from '../src/couch/connect.js';
import { bucketPrefix } from '../src/queue/dependent-buckets.js';
import { bookkeepingPrefix } from '../src/queue/provenance.js';

/**
 * The queue's bookkeeping documents (`rb!<key>`) by the type of their key (`rb!<type>.`)
 * and by what they hold (provenance of that key's documents as sources, the dependents
 * of that key's documents as targets, or both), with the extensions whose provenance
 * they carry: which bookkeeping is per message, per conversation, per identity, ...
 * Dependents buckets (`rb!~<partition>!<bits>`) are the kind `bucket` (`bucket split`
 * for the parents of a split).
 */
export interface KindCount {
  count: number;
  /** JSON bytes of all documents of the kind, and of the largest. */
  bytes: number;
  maxBytes: number;
  /** Entries of the longest dependents list (sources depending on one target). */
  maxDependents: number;
}

export async function bookkeepingKinds(db: Db): Promise<Map<string, KindCount>> {
  const counts = new Map<string, KindCount>();
  const add = (kind: string, bytes: number, dependents: number) => {
    const c = counts.get(kind) ?? { count: 0, bytes: 0, maxBytes: 0, maxDependents: 0 };
    counts.set(kind, { count: c.count + 1, bytes: c.bytes + bytes, maxBytes: Math.max(c.maxBytes, bytes), maxDependents: Math.max(c.maxDependents, dependents) });
  };
  let startkey = bookkeepingPrefix;
  for (;;) {
    const page = (await callCouch(db.couch, 'listing bookkeeping', () =>
      db.scope.list({ include_docs: true, startkey, endkey: `${bookkeepingPrefix}\ufff0`, limit: 2_001 }),
    )) as unknown as { rows: Array<{ id: string; doc?: { provenance?: Record<string, Record<string, unknown>>; dependents?: Record<string, Record<string, string[]>> } }> };
    for (const { id, doc } of page.rows.slice(0, 2_000)) {
      const keyPart = id.slice(bookkeepingPrefix.length);
      const type = id.startsWith(bucketPrefix) ? ((doc as { split?: boolean } | undefined)?.split ? 'bucket split' : 'bucket') : keyPart.includes('.') ? keyPart.slice(0, keyPart.indexOf('.')) : 'other';
      const holds = [doc?.provenance ? 'provenance' : '', doc?.dependents ? 'dependents' : ''].filter(Boolean).join('+') || 'empty';
      const extensions = [...new Set(Object.values(doc?.provenance ?? {}).flatMap((byExt) => Object.keys(byExt)))].sort().join(',');
      const longest = Math.max(0, ...Object.values(doc?.dependents ?? {}).flatMap((byExt) => Object.values(byExt).map((sources) => sources.length)));
      add(`${type} ${holds}${extensions ? ` [${extensions}]` : ''}`, JSON.stringify(doc ?? {}).length, longest);
    }
    const next = page.rows[2_000]?.id;
    if (next === undefined) return counts;
    startkey = next;
  }
}
