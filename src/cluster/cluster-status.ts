import { changesPending } from '../couch/changes-pending.js';
import type { Db } from '../couch/connect.js';
import { isBookkeeping } from '../queue/provenance.js';
import { listByPrefix } from './coordination-store.js';
import { type LeaseDoc, type PartitionCheckpointDoc, type WorkerDoc, checkpointPrefix, isLive, leasePrefix, partitionLease, workerPrefix } from './documents.js';
import { clusterLimits } from './limits.js';

export interface ClusterStatus {
  workers: Array<{ id: string; host: string; pid: number; roles: string[]; state: 'live' | 'draining' | 'dead'; heartbeatAgeMs: number; partitions: number[]; leases: string[] }>;
  /** Per unit (partition or the aggregates): owner, epoch, and changes not yet processed
   * (an upper bound: coordination documents are not counted, other partitions' are). */
  units: Array<{ unit: string; owner: string | null; epoch: number; expired: boolean; lag: number; lagAtLeast: boolean }>;
}

/** Who works on what, as the coordination documents say: undefined when no worker ever
 * joined this database (the single-process queue). */
export async function clusterStatus(db: Db, now = Date.now()): Promise<ClusterStatus | undefined> {
  const [workers, leases, checkpoints] = await Promise.all([
    listByPrefix<WorkerDoc>(db, workerPrefix),
    listByPrefix<LeaseDoc>(db, leasePrefix),
    listByPrefix<PartitionCheckpointDoc>(db, checkpointPrefix),
  ]);
  if (workers.length === 0 && leases.length === 0) return undefined;
  const byUnit = new Map(checkpoints.map((c) => [c.unit, c]));
  const units = await Promise.all(leases.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true })).map(async (l) => {
    const lag = await changesPending(db, byUnit.get(l.name)?.seq, (id) => isBookkeeping(id));
    return { unit: l.name, owner: l.owner, epoch: l.epoch, expired: l.owner !== null && l.expires <= now, lag: lag.count, lagAtLeast: lag.atLeast };
  }));
  // An announcement is as old as its heartbeat: a worker that let go of a lease (or whose
  // tick came too late to renew it) may still name it there while another took it. The
  // lease document is the one truth, so a worker is shown holding what it names only.
  const ownerOf = new Map(leases.map((l) => [l.name, l.owner]));
  const owns = (w: WorkerDoc, name: string) => ownerOf.get(name) === w.worker;
  return {
    workers: workers.map((w) => ({
      id: w.worker,
      host: w.host,
      pid: w.pid,
      roles: w.roles,
      state: isLive(w, now, clusterLimits.liveMs) ? 'live' : w.draining && now - w.heartbeat < clusterLimits.liveMs ? 'draining' : 'dead',
      heartbeatAgeMs: now - w.heartbeat,
      partitions: w.partitions.filter((p) => owns(w, partitionLease(p))),
      leases: w.leases.filter((name) => owns(w, name)),
    })),
    units,
  };
}

/** The workers whose heartbeat is recent and who are not draining. */
export async function liveWorkers(db: Db, now = Date.now()): Promise<WorkerDoc[]> {
  return (await listByPrefix<WorkerDoc>(db, workerPrefix)).filter((w) => isLive(w, now, clusterLimits.liveMs));
}

export function clusterStatusLines(status: ClusterStatus): string[] {
  return [
    `workers: ${status.workers.filter((w) => w.state === 'live').length} live of ${status.workers.length}`,
    ...status.workers.map((w) => `  ${w.id} (${w.host}, pid ${w.pid}, ${w.roles.join('+')}): ${w.state}, heartbeat ${(w.heartbeatAgeMs / 1000).toFixed(1)} s ago, partitions [${w.partitions.join(',')}]${w.leases.length > 0 ? `, holds ${w.leases.join(', ')}` : ''}`),
    'partitions:',
    ...status.units.map((u) => `  ${u.unit}: ${u.owner ?? 'free'}${u.expired ? ' (lease expired)' : ''}, epoch ${u.epoch}, lag ${u.lag}${u.lagAtLeast ? '+' : ''} changes`),
  ];
}
