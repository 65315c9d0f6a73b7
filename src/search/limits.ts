/** Limits of the search index, each with its reason. */
export const searchLimits = {
  /** Messages re-read from CouchDB and written per SQLite transaction while catching up:
   * one _all_docs request of 9 ids each and one commit (with the checkpoint) per batch;
   * bigger batches barely help and make a kill -9 redo more. */
  indexBatchMessages: 200,
  /** Documents per _all_docs page of a build scan (one SQLite transaction each): about
   * 80 messages of ~25 documents; a page of big rd.msg.email documents stays some MB. */
  buildPageDocs: 2000,
  /** Changes read per feed request. */
  changesBatch: 1000,
  /** Results a page may hold: more is never useful to read and costs snippet time. */
  maxPageSize: 200,
  defaultPageSize: 20,
  /** Tokens of context around the hit in a snippet. */
  snippetTokens: 16,
  /** How long a writer waits for another process's SQLite transaction (the CLI's
   * catch-up while serve indexes): one batch takes well under this. */
  busyTimeoutMs: 10_000,
  /** Body text indexed per message: the first 256 KB of the text, so a 20 MB log pasted
   * into a mail does not make one row megabytes of index. */
  maxTextChars: 256 * 1024,
} as const;
