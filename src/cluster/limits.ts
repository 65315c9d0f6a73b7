import { queueLimits } from '../queue/limits.js';

/** Limits of the scale-out coordination, each with its reason. */
export const clusterLimits = {
  /** Partitions of the key space: the queue's (src/queue/limits.ts says why 16), since
   * its dependents buckets are per partition. */
  partitions: queueLimits.keyPartitions,
  /** A worker renews its heartbeat and leases this often. */
  heartbeatMs: 2_000,
  /** A worker whose heartbeat is older than this is dead and the others take its share
   * at their next heartbeat: last heartbeat + 10 s + one heartbeat (2 s) stays inside the
   * issue's 15 s, with room for a late timer on a loaded machine. */
  liveMs: 10_000,
  /** A lease runs out this long after its last renewal: shorter than `liveMs`, so a dead
   * worker's leases are free by the time the others see it dead. */
  leaseMs: 8_000,
  /** A commit under a lease needs this much of it left (else the fence renews first):
   * room for the clock skew between machines and the time between check and write. */
  safetyMarginMs: 2_000,
  /** A dead worker's announcement is removed after this many `liveMs` (4 min by
   * default): long enough for "raindrop status" to show who died, short enough that
   * restarts do not pile up documents every tick reads. */
  forgetDeadAfterLiveTimes: 24,
  /** Tries to release a lease whose revision moved under the release (a lost answer, a
   * lagging node) while it still names this worker: a few, then it runs out by itself. */
  releaseAttempts: 3,
  /** Reads and deletes of a leaving worker's announcement until a read finds it gone (a
   * losing revision that surfaces, a node that lags), with a pause growing by
   * `leaveRetryMs` each time: at most ~3 s at exit, then the others forget it when old. */
  leaveAttempts: 8,
  leaveRetryMs: 100,
  /** A worker also compares its extensions with the installed ones this often, besides
   * whenever a batch carries an extension document: a worker that held no partition when
   * the install passed on the feed would otherwise run the old code (and replay a
   * partition it takes back to that code) until restarted. One small read. */
  extensionCheckMs: 30_000,
} as const;

export interface ClusterTiming {
  heartbeatMs: number;
  liveMs: number;
  leaseMs: number;
  safetyMarginMs: number;
}

export const defaultTiming: ClusterTiming = {
  heartbeatMs: clusterLimits.heartbeatMs,
  liveMs: clusterLimits.liveMs,
  leaseMs: clusterLimits.leaseMs,
  safetyMarginMs: clusterLimits.safetyMarginMs,
};
