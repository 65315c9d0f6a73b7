/** Limits of the work queue, each with its reason. */
export const queueLimits = {
  /** Changes per batch from the feed. Big enough that one batch's writes amortise a
   * `_bulk_docs` round trip and the sandbox call; small enough that a crash repeats
   * little and one batch's documents (with include_docs) stay a few MB in memory. */
  batchSize: 500,
  /** Attachment bytes fetched ahead per extension run in a batch: a batch of raw mail
   * is typically 10-30 MB; past this, reads go to the server one by one. */
  prefetchBytes: 64 * 1024 * 1024,
  /** Attachment requests in flight while prefetching: enough to hide the latency of
   * each, few enough not to crowd out the batch's other requests. */
  prefetchConcurrency: 8,
} as const;
