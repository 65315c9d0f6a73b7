/**
 * Every number of the couch layer, in one place, with the reason for it.
 */
export const couchLimits = {
  /**
   * Documents per `_bulk_docs` / `_all_docs?keys=` request. 500 documents of a few KB
   * make a request of 1-2 MB: one round trip amortised over many documents, while the
   * memory held on both sides for one request stays small.
   */
  bulkChunkSize: 500,
  /**
   * How many times a schema-item write re-reads and re-merges after a 409. Two writers
   * racing on one document conflict at most once each per round; 10 rounds means
   * something is badly wrong (a hot loop elsewhere), and we say so.
   */
  conflictRetries: 10,
  /** Upper bound (ms) of the random pause before re-reading after a 409, doubling per
   * retry up to conflictJitterMaxMs. Without it, writers that read in lock-step keep
   * colliding and the one whose request arrives last loses every round. */
  conflictJitterBaseMs: 5,
  conflictJitterMaxMs: 250,
  /** Attachments larger than this are uploaded one by one (standalone PUT) instead of
   * inline base64 in the JSON body: base64 inflates by a third and CouchDB 3 counts
   * inline attachments against max_document_size (8 MB by default). */
  inlineAttachmentMaxBytes: 256 * 1024,
  /** Rows per `_changes` request of the follower: big enough to amortise the round trip,
   * small enough that one batch of documents with include_docs stays a few MB. */
  changesBatchSize: 500,
  /** Server-side heartbeat of a longpoll `_changes` request (ms): keeps proxies and the
   * client's idle timeout from cutting a quiet feed. */
  changesHeartbeatMs: 10_000,
  /** How long a longpoll waits for a change before returning empty (ms). */
  changesLongpollTimeoutMs: 30_000,
  /** Reconnect backoff of the follower (ms): first retry fast (a restarted embedded
   * server is back in well under a second), then doubling to a cap so a server that is
   * down for hours is polled every half minute rather than hammered. */
  reconnectInitialMs: 100,
  reconnectMaxMs: 30_000,
  /** Times a request is sent again after its kept-alive socket was dropped before any
   * answer (see callCouch). A fresh connection is made for the retry, so one retry is
   * normally enough; two cover a server that closed several idle sockets at once. */
  droppedSocketRetries: 2,
} as const;
