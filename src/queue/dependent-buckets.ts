import { createHash } from 'node:crypto';
import type { CouchDoc } from '../couch/documents.js';
import { queueLimits } from './limits.js';
import { bookkeepingPrefix, keyPartOf, sortKeys } from './provenance.js';

/**
 * Dependents of keys that have no provenance of their own (a base subject, a sender
 * identity, a message referenced but not present): kept in shared bucket documents
 * instead of one `rb!<key>` document per key, which made them 0.5-0.6 documents per
 * message on top of each message's own one.
 *
 * A bucket is addressed by the key's partition (the same number src/cluster gives the
 * key, so a bucket never holds keys of two partitions and has one owner) and a bit
 * prefix of a hash of the key: `rb!~<partition>!<bits>`. It starts as the partition's
 * root (no bits) and splits in two (one bit more) when its dependents pass
 * `queueLimits.dependentsBucketBytes`. A split writes both children first and then marks
 * the parent `split` without the entries it moved (`BatchWriter` commits them in that
 * order), so a crash between them leaves the entries twice, never nowhere.
 *
 * Readers take the union of every existing bucket on the key's path (split or not) and
 * the key's own `rb!<key>` (where present messages, and documents of earlier versions,
 * keep theirs). That union is what makes the protocol safe without transactions: an
 * entry written to a parent another worker split meanwhile (a replay after a 409) is
 * still read, and a removal takes the entry out of every document of the path.
 */
export interface BucketDoc extends CouchDoc {
  /** `<partition>!<bits>`: what the bucket covers. */
  rd_dependents_bucket: string;
  /** Depended-on document id -> extension id -> source ids, sorted (as in `rb!<key>`). */
  dependents?: Record<string, Record<string, string[]>>;
  /** Its entries moved to the two children; only stragglers remain. */
  split?: true;
}

export const bucketPrefix = `${bookkeepingPrefix}~`;

export function isBucketId(id: string): boolean {
  return id.startsWith(bucketPrefix);
}

/** A stable 32-bit number of a string (the first 4 bytes of its SHA-256): the same on
 * every machine and Node version, unlike any in-process hash. */
export function stableHash32(text: string): number {
  return digestOf(text).readUInt32BE(0);
}

/** The partition of a key part: what src/cluster assigns its documents to. */
export function partitionOfKeyPart(keyPart: string, partitions: number = queueLimits.keyPartitions): number {
  return stableHash32(keyPart) % partitions;
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A key's partition and path bits, memoised: a batch asks for the same keys many times
 * (every depth of every path); cleared when full, so it stays bounded. */
const paths = new Map<string, { partition: number; bits: string }>();
function pathOf(keyPart: string): { partition: number; bits: string } {
  let path = paths.get(keyPart);
  if (!path) {
    const digest = digestOf(keyPart);
    path = { partition: digest.readUInt32BE(0) % queueLimits.keyPartitions, bits: pathBits(digest) };
    if (paths.size >= 100_000) paths.clear();
    paths.set(keyPart, path);
  }
  return path;
}

/** The bits that choose a key's bucket within its partition: from bytes of the hash the
 * partition number does not use, so every split divides a partition's keys evenly. */
function pathBits(digest: Buffer): string {
  let bits = '';
  for (let i = 4; bits.length < queueLimits.dependentsBucketMaxDepth; i++) bits += (digest[i] as number).toString(2).padStart(8, '0');
  return bits.slice(0, queueLimits.dependentsBucketMaxDepth);
}

/** The id of the bucket at `depth` on the path of `target`'s key. */
export function bucketIdAt(target: string, depth: number): string {
  const { partition, bits } = pathOf(keyPartOf(target));
  return `${bucketPrefix}${partition}!${bits.slice(0, depth)}`;
}

export function depthOfBucket(id: string): number {
  return id.length - id.lastIndexOf('!') - 1;
}

/** The ids of the buckets at depths `from`..`to` (inclusive) on `target`'s path. */
export function bucketCandidates(target: string, from: number, to: number): string[] {
  const ids: string[] = [];
  for (let d = from; d <= Math.min(to, queueLimits.dependentsBucketMaxDepth); d++) ids.push(bucketIdAt(target, d));
  return ids;
}

/** The two children of a bucket id. */
export function childrenOf(id: string): [string, string] {
  return [`${id}0`, `${id}1`];
}

/** Which child of `parentId` the target falls in. */
export function childFor(parentId: string, target: string): string {
  return bucketIdAt(target, depthOfBucket(parentId) + 1);
}

type Dependents = NonNullable<BucketDoc['dependents']>;

/** The bucket after its dependents and split mark changed (never a deletion: an empty
 * leaf stays, so the path keeps its shape and the next entry needs no new document). */
export function bucketWith(existing: CouchDoc | null | undefined, id: string, dependents: Dependents, split: boolean): BucketDoc {
  const rev = existing?._rev ? { _rev: existing._rev } : {};
  const coverage = id.slice(bucketPrefix.length);
  return { _id: id, ...rev, rd_dependents_bucket: coverage, dependents: sortKeys(dependents), ...(split ? { split: true as const } : {}) };
}

/** `into` with every entry of `entries` added (a union: nothing is removed). */
export function mergeDependents(into: Dependents | undefined, entries: Dependents): Dependents {
  const out: Dependents = { ...(into ?? {}) };
  for (const [target, byExt] of Object.entries(entries)) {
    const current = { ...(out[target] ?? {}) };
    for (const [ext, sources] of Object.entries(byExt)) current[ext] = [...new Set([...(current[ext] ?? []), ...sources])].sort();
    out[target] = sortKeys(current);
  }
  return out;
}

/** `from` without the entries of `entries`. */
export function subtractDependents(from: Dependents | undefined, entries: Dependents): Dependents {
  const out: Dependents = {};
  for (const [target, byExt] of Object.entries(from ?? {})) {
    const next: Record<string, string[]> = {};
    for (const [ext, sources] of Object.entries(byExt)) {
      const gone = new Set(entries[target]?.[ext] ?? []);
      const left = sources.filter((s) => !gone.has(s));
      if (left.length > 0) next[ext] = left;
    }
    if (Object.keys(next).length > 0) out[target] = next;
  }
  return out;
}

/** Whether a bucket must split: past the size limit with more than one target (one
 * target's entries cannot be divided), or a split a crash left unfinished (a child on
 * the path already exists). */
export function needsSplit(doc: BucketDoc, childExists: boolean): boolean {
  if (doc.split || depthOfBucket(doc._id) >= queueLimits.dependentsBucketMaxDepth) return false;
  const targets = Object.keys(doc.dependents ?? {});
  if (targets.length === 0) return false;
  if (childExists) return true;
  return targets.length > 1 && JSON.stringify(doc.dependents).length > queueLimits.dependentsBucketBytes;
}

/** A bucket's entries divided between its two children. */
export function divide(doc: BucketDoc): Map<string, Dependents> {
  const parts = new Map<string, Dependents>();
  for (const [target, byExt] of Object.entries(doc.dependents ?? {})) {
    const child = childFor(doc._id, target);
    const part = parts.get(child) ?? {};
    part[target] = byExt;
    parts.set(child, part);
  }
  return parts;
}
