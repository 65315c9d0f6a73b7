/**
 * Every number the SMTP sender depends on, in one place, with the reason for each.
 * Tests pass smaller backoffs through `SenderOptions.limits`; nothing else hard-codes one.
 */
export interface SmtpLimits {
  /** Attempts of one send request before a temporary failure (4xx, network) becomes
   * 'failed': a server that keeps answering 451 for this long has a problem a person
   * must look at, and the user can still ask again (`raindrop outbox retry`). */
  maxAttempts: number;
  /** Pause before the second attempt; doubled for each further one, up to the cap. Big
   * providers' greylisting asks for a few minutes. */
  retryFirstMs: number;
  retryMaxMs: number;
  /** TCP + TLS connect, greeting, and inactivity budgets of one SMTP session. A 25 MB
   * message on a slow link still moves bytes, so the socket timeout only fires on a
   * stalled server. */
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  /** An attempt recorded as 'sending' by another process that has not finished after
   * this long is taken as dead (its outcome 'unknown'): longer than any SMTP transaction
   * can last with the timeouts above. A process on this host that is gone is known dead
   * at once. */
  attemptStaleMs: number;
  /** How often the sender looks for due retries and stale attempts when nothing arrives
   * on the changes feed. */
  pollMs: number;
}

export const defaultSmtpLimits: SmtpLimits = {
  maxAttempts: 6,
  retryFirstMs: 60_000,
  retryMaxMs: 30 * 60_000,
  connectTimeoutMs: 15_000,
  greetingTimeoutMs: 15_000,
  socketTimeoutMs: 120_000,
  attemptStaleMs: 15 * 60_000,
  pollMs: 30_000,
};
