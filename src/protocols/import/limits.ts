/** Limits of import, each with its reason. */
export const importLimits = {
  /** Messages per store call: one bulk write and one dedupe lookup per batch. */
  batchMessages: 200,
  /** Bytes per store call: keeps a batch of big messages from holding hundreds of MB. */
  batchBytes: 32 * 1024 * 1024,
  /** A single message larger than this is refused: CouchDB and the parsers would choke,
   * and no real mail is this big (providers cap at 25-50 MB). */
  maxMessageBytes: 100 * 1024 * 1024,
} as const;
