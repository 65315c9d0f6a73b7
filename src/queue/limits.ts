/** Limits of the work queue, each with its reason. */
export const queueLimits = {
  /** Changes per batch from the feed. Big enough that one batch's writes amortise a
   * `_bulk_docs` round trip and the sandbox call; small enough that a crash repeats
   * little and one batch's documents (with include_docs) stay a few MB in memory. */
  batchSize: 500,
  /** The queue's last settled writes whose revisions are kept to pass over their echo
   * on the feed (own-writes.ts): ~10 writes per message, and after an import the echoes
   * come only once every raw message before them has been processed, so 500,000 covers
   * an import of ~50,000 messages, in ~22 MB (~45 bytes each, measured). One forgotten
   * costs only a read as before: at 50,000, 2,148 of the 7,201 messages of the
   * openwrt-devel corpus had their ~10 echoes read back whole. */
  ownWritesRemembered: 500_000,
  /** Attachment bytes fetched ahead per extension run in a batch: a batch of raw mail
   * is typically 10-30 MB; past this, reads go to the server one by one. */
  prefetchBytes: 64 * 1024 * 1024,
  /** Attachment bytes per prefetch request (inline base64 in `_all_docs`): a few MB
   * amortise the round trip over dozens of messages while the JSON (a third bigger than
   * the bytes) stays small for both sides to parse; a bigger attachment is read alone. */
  prefetchRequestBytes: 4 * 1024 * 1024,
  /** Prefetch requests in flight: enough to overlap one request's parse with the next
   * one's transfer, few enough not to crowd out the batch's other requests. */
  prefetchConcurrency: 3,
  /** Partitions of the key space (src/cluster's units of per-key work; a dependents
   * bucket never spans two). Fixed: a partition's checkpoint, lease and buckets are
   * named by its number, so changing it means starting every partition over. 16 spreads
   * evenly over up to ~5 workers while keeping per-batch fencing to at most 16 small
   * documents. */
  keyPartitions: 16,
  /** JSON bytes of dependents past which a bucket (dependent-buckets.ts) splits in two.
   * Every batch reads the buckets on the paths of its documents' keys, so a bucket is
   * read about as often as a message's own bookkeeping document: this keeps one about
   * the size of that document (12 KB mean on openwrt-devel), while at 2,000 messages
   * the ~1,000 subject, sender and missing-message keys fit in a few dozen buckets
   * instead of 1,000 documents. */
  dependentsBucketBytes: 16 * 1024,
  /** Bits of a key's hash a bucket path may use: 2^20 buckets per partition, far past
   * any mailbox; only a bound so a pathological key set cannot split forever. */
  dependentsBucketMaxDepth: 20,
  /** Depths of bucket paths read per request: every batch reads the paths of all its
   * keys, and 4 depths are at most 16 x 15 distinct ids however many keys a batch holds
   * (one `_all_docs` request); a partition's tree reaches depth 4 at about 8 full
   * buckets (~10,000 messages), and each 4 levels more cost one request more for the
   * keys whose path goes on. */
  dependentsBucketReadDepths: 4,
} as const;
