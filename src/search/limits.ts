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
  /** A snippet is cut from at most this much of each of a message's columns. FTS5's
   * snippet() re-reads and re-tokenizes a row's whole column, so one message at the
   * 256 KB text cap cost 50–65 ms per result (the p95 of the benchmark's queries was
   * snippets, not the search). Messages larger than this get their snippet from a copy of
   * their first 16 KB, which holds the match in nearly every real message; when it does
   * not, the snippet is the start of the text, without highlights. */
  snippetSourceChars: 16 * 1024,
  /** How long a writer waits for another process's SQLite transaction (the CLI's
   * catch-up while serve indexes): one batch takes well under this. */
  busyTimeoutMs: 10_000,
  /** Body text indexed per message: the first 256 KB of the text, so a 20 MB log pasted
   * into a mail does not make one row megabytes of index. */
  maxTextChars: 256 * 1024,
} as const;
