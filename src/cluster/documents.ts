import type { Seq } from '../couch/changes-follower.js';
import { coordinationPrefix } from '../queue/provenance.js';

/** What a worker offers to do. */
export const workerRoles = ['process', 'fetch', 'send', 'index'] as const;
export type WorkerRole = (typeof workerRoles)[number];

/**
 * A worker's announcement. Plain documents under `rk!` rather than schema items: they
 * change every few seconds, are nobody's data and are never derived from; the queue
 * skips them (`isBookkeeping`) like its own `rb!` documents.
 */
export interface WorkerDoc {
  _id: string;
  _rev?: string;
  rd_cluster: 'worker';
  worker: string;
  host: string;
  pid: number;
  roles: WorkerRole[];
  /** Milliseconds since the epoch, by the worker's clock. */
  started: number;
  heartbeat: number;
  /** Draining: finishing its batches, takes nothing new, others take its share. */
  draining: boolean;
  /** Partitions it holds as of its last heartbeat (for `status`). */
  partitions: number[];
  /** Other leases it holds (sender, accounts). */
  leases: string[];
}

/** One lease: a partition (`partition:<n>`), a singleton (`sender`), an account
 * (`account:<name>`). The epoch grows by one each time the owner changes. */
export interface LeaseDoc {
  _id: string;
  _rev?: string;
  rd_cluster: 'lease';
  name: string;
  owner: string | null;
  epoch: number;
  expires: number;
}

/** Where the queue stands in one partition (or the aggregates unit): the feed position, the code it ran with,
 * and the epoch of the lease of the owner that wrote it (the fence). */
export interface PartitionCheckpointDoc {
  _id: string;
  _rev?: string;
  rd_cluster: 'checkpoint';
  /** The lease it belongs to: `partition:<n>` or `queue:aggregates`. */
  unit: string;
  owner: string;
  epoch: number;
  seq?: Seq;
  /** Extension id -> code hash the partition was processed with up to `seq`. */
  code: Record<string, string>;
  /** Every installed extension's code hash at that commit, of both kinds of work, so an
   * edit that moves an extension from one kind to the other is seen as an edit by the
   * unit that runs it now (and its stale outputs removed there). */
  installed?: Record<string, string>;
  /** Extensions whose code changed and whose replay of this unit has not yet removed the
   * outputs the new code no longer makes (kept here so a crash does not forget them). */
  replaced?: string[];
}

export const workerDocId = (worker: string) => `${coordinationPrefix}worker!${worker}`;
export const leaseDocId = (name: string) => `${coordinationPrefix}lease!${name}`;
/** A request that a worker drain: a document of its own, written by "raindrop worker
 * --drain", never by the worker. A flag on the worker document, which the worker rewrites
 * every heartbeat, could be lost: on a cluster two writers through different nodes can
 * both be accepted, and the losing revision (the drain) becomes a conflict no one reads. */
export const drainRequestId = (worker: string) => `${coordinationPrefix}drain!${worker}`;
export const partitionLease = (partition: number) => `partition:${partition}`;
/** The singleton lease of the cross-key extensions (work-classes.ts). */
export const aggregatesLease = 'queue:aggregates';
export const unitCheckpointId = (unit: string) => `${coordinationPrefix}checkpoint!${unit}`;
/** The aggregates unit's commit intent (src/queue/commit-intent.ts). */
export const unitIntentId = (unit: string) => `${coordinationPrefix}intent!${unit}`;
export const workerPrefix = `${coordinationPrefix}worker!`;
export const leasePrefix = `${coordinationPrefix}lease!`;
export const checkpointPrefix = `${coordinationPrefix}checkpoint!`;

export const isLive = (doc: WorkerDoc, now: number, liveMs: number): boolean => !doc.draining && now - doc.heartbeat < liveMs;

/**
 * Whether `me` may take this lease now: nobody holds it, `me` already does, it ran out,
 * or its owner is not among the live workers (dead: heartbeat too old, or draining and
 * gone). Taking a lease from an owner that may still be running is safe only because
 * every commit is fenced (see partition-queue.ts).
 */
export function leaseIsFree(lease: LeaseDoc | undefined, me: string, now: number, live: ReadonlySet<string>): boolean {
  if (!lease || lease.owner === null || lease.owner === me) return true;
  return lease.expires <= now || !live.has(lease.owner);
}

/** The lease as `me` takes it: always a new epoch, even from itself (a worker that
 * dropped a partition and takes it again must fence its own earlier batch too). */
export function takenLease(name: string, lease: LeaseDoc | undefined, me: string, now: number, leaseMs: number): LeaseDoc {
  const epoch = (lease?.epoch ?? 0) + 1;
  return { _id: leaseDocId(name), ...(lease?._rev ? { _rev: lease._rev } : {}), rd_cluster: 'lease', name, owner: me, epoch, expires: now + leaseMs };
}

/** The fence: `me` may commit under `epoch` only while the stored lease is still its own,
 * at that epoch, with at least `marginMs` left. */
export function leaseAllowsCommit(lease: LeaseDoc | undefined, me: string, epoch: number, now: number, marginMs: number): boolean {
  return lease !== undefined && lease.owner === me && lease.epoch === epoch && lease.expires - now >= marginMs;
}
