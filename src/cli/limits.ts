/**
 * Numbers the CLI itself depends on, with the reason for each.
 */
export const cliLimits = {
  /** Time `serve` gives the queue and the mail sync to finish after Ctrl-C or SIGTERM.
   * A batch in flight is committed or abandoned well within this (everything is written
   * idempotently, so an abandoned batch is simply redone); past it, serve names what it
   * is still waiting for and exits with a failure instead of hanging. */
  shutdownGraceMs: 20_000,
  /** How long a stop waits for the search indexer's batch in hand before leaving it: the
   * index survives a kill (one SQLite transaction per batch), so waiting longer buys
   * nothing but a slower stop. */
  indexerStopWaitMs: 5_000,
  /** Time a finished command's process gets to exit by itself. A part that ignored the
   * stop (an extension still running in the sandbox, a socket that never closes) would
   * otherwise keep the process alive after it reported its exit code: SIGTERM must end
   * serve, not only SIGKILL. */
  exitGraceMs: 3_000,
  /** Quiet time after the last change in a watched extension directory before it is
   * re-installed: editors save in several steps (temp file, rename) within a few ms, and
   * a re-install checks every file in the sandbox, so one per save is enough. */
  extensionEditSettleMs: 300,
  /** Attachments `raindrop send` accepts in one message: what the big providers accept
   * (Gmail, Outlook: 25 MB); rd.ext.outgoing refuses more too. */
  maxAttachmentMb: 25,
  /** Recipients per message, as the rd.msg.outgoing schema allows per field. */
  maxRecipients: 100,
} as const;
