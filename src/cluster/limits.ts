/** Limits of the scale-out coordination, each with its reason. */
export const clusterLimits = {
  /** Partitions of the key space. Fixed: a partition's checkpoint and lease are named by
   * its number, so changing it means starting every partition over. 16 spreads evenly
   * over up to ~5 workers (rendezvous gives each about P/N, and the spread of P/N with
   * P = 16 stays within one or two partitions) while keeping per-batch fencing to at most
   * 16 small documents. */
  partitions: 16,
  /** A worker renews its heartbeat and leases this often. */
  heartbeatMs: 3_000,
  /** A worker whose heartbeat is older than this is dead (the issue: takeover within
   * 15 s of the last heartbeat). */
  liveMs: 15_000,
  /** A lease runs out this long after its last renewal: shorter than `liveMs` by one
   * heartbeat, so a dead worker's partitions are free by the time another worker's next
   * tick sees it dead (last heartbeat + lease + one tick <= 15 s). */
  leaseMs: 12_000,
  /** A batch is started on a partition only while its lease has at least this much
   * left, and the fence refuses a checkpoint write below it: room for the clock skew
   * between machines and the time between the check and the write. */
  safetyMarginMs: 3_000,
  /** A dead worker's announcement is removed after this many `liveMs` (6 min by
   * default): long enough for "raindrop status" to show who died, short enough that
   * restarts do not pile up documents every tick reads. */
  forgetDeadAfterLiveTimes: 24,
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
