/**
 * Every limit of the sandbox, in one place, with the reason for each number. Tests and
 * `raindrop ext run` may pass smaller values; nothing else hard-codes one.
 */
export interface SandboxLimits {
  /** V8 heap per isolate (MB). Every extension of the pool shares one isolate, and one
   * document's working set (a parsed 25 MB message as strings, its body, its parts) must
   * fit with room to spare; 256 MB per isolate times one isolate per core stays well
   * inside a small machine's memory. */
  memoryMb: number;
  /** CPU time one document may use in one extension (ms). Parsing a huge message takes
   * well under a second; five seconds is "certainly a loop", not "a big message". */
  cpuMsPerDoc: number;
  /** Wall time one document may take (ms), including synchronous host calls (`open`,
   * `attachment`). Catches an extension blocked in `Atomics.wait`, which uses no CPU. */
  wallMsPerDoc: number;
  /** Serialized output of one document (bytes of JSON): CouchDB refuses documents over
   * 8 MB by default (max_document_size), so more than that cannot be stored anyway. */
  outputBytesPerDoc: number;
  /** Documents handed to one isolate per call: large enough that the cost of crossing
   * into the isolate is spread thin, small enough that a restart repeats little work. */
  docsPerCall: number;
  /** How often the watchdog looks at a running document (ms). */
  watchdogIntervalMs: number;
}

export const defaultSandboxLimits: SandboxLimits = {
  memoryMb: 256,
  cpuMsPerDoc: 5_000,
  wallMsPerDoc: 15_000,
  outputBytesPerDoc: 8_000_000,
  docsPerCall: 200,
  watchdogIntervalMs: 10,
};

/** Supervision of the pool's child process. */
export const poolProcessLimits = {
  /** Time for the child to start and compile every extension in every isolate (ms). */
  startTimeoutMs: 30_000,
  /** Crashes tolerated in `crashWindowMs` before the pool gives up: a crash loop means a
   * broken build or machine, and retrying forever would hide it. */
  crashBudget: 20,
  crashWindowMs: 60_000,
  /** Time to wait for a graceful stop before killing the child (ms). */
  stopTimeoutMs: 5_000,
  /** Jobs (of up to docsPerCall documents each) in the child at once, per isolate: one
   * running and one waiting keeps every isolate busy. All of a batch's jobs at once put
   * every document and answer of the batch in the child's memory together (the sandbox
   * reached 1.27 GB in the conversation re-runs at 50,000 messages). */
  jobsInFlightPerIsolate: 2,
  /** Answers worked out ahead for a batch (known-answers.ts), in characters: up to this,
   * every job of the batch carries all of them (an extension opening another document of
   * the batch is answered in the pool process); above, each job only those at its own
   * documents' keys, since a copy per job grew with the square of the batch (5,000
   * re-run conversations would be 25 copies of ~8 MB). With the jobs in flight above,
   * at most a few such copies are in the child at once. */
  sharedAnswersMaxBytes: 2 * 1024 * 1024,
  /** Rounds in which an `rd.open` that the answers sent with a job do not cover fails at
   * once and is read for the document's next run together with every other document's
   * (pool.ts, run), before a last round in which such an open asks the parent and waits,
   * as always. Asked one by one, those opens were a round trip each (a sender's flags, a
   * subject's seekers: about 2.5 per message on openwrt-devel, 13 % of the cascade's
   * time); a round costs a re-run of only the documents that asked. Three covers a
   * conversation's usual depth of references; deeper ones finish in the last round. A
   * document so runs at most four times, each run within the per-document limits. */
  gatherRounds: 3,
  /** `rd.open` requests recorded per document in a gathering round: a handler that
   * swallows the failure and asks again in a loop would otherwise grow the pool process's
   * memory until its CPU limit stops it. A message's real reads are a few dozen. */
  gatheredRequestsPerDoc: 1_000,
  /** Characters of `rd.open` arguments recorded per document in a gathering round: the
   * count above does not bound a key's size, and a loop asking with a key of megabytes
   * would hold a thousand of them. A message's real reads are a few dozen requests of
   * ~100 characters; an open past this fails as the others and asks again next run. */
  gatheredCharsPerDoc: 64 * 1024,
} as const;
