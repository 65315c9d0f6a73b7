import { RaindropError, errorCodes, redactText } from '../../core/index.js';

/** What a failed SMTP attempt means for the message. */
export type AttemptVerdict =
  /** The server refused for good (5xx, bad login, TLS): the server's words, no retry. */
  | 'failed'
  /** A temporary refusal (4xx) or a network failure before the message was handed over. */
  | 'retry'
  /** The connection failed after the whole message was handed over and before the
   * server's answer: the server may have accepted it. Never retried automatically. */
  | 'unknown';

interface NodemailerError {
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  command?: unknown;
  message?: unknown;
}

export interface ClassifiedFailure {
  verdict: AttemptVerdict;
  /** The server's reply or the failure, secrets removed. */
  text: string;
  responseCode: number | undefined;
  reason: 'auth' | 'tls' | 'refused' | 'temporary' | 'network' | 'message';
}

/**
 * Classifies a nodemailer error. `handedOver` is true once every byte of the message
 * was given to the connection (the final dot follows): a connection lost after that
 * point is 'unknown', never 'retry', because the server may already have the message.
 */
export function classifyFailure(err: unknown, handedOver: boolean, secrets: readonly string[]): ClassifiedFailure {
  const e = (err ?? {}) as NodemailerError;
  const code = typeof e.code === 'string' ? e.code : '';
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const response = typeof e.response === 'string' && e.response.length > 0 ? e.response : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const text = redactText(response ?? message, secrets);
  if (code === 'EAUTH' || (responseCode !== undefined && [530, 534, 535, 538].includes(responseCode) && /AUTH/i.test(String(e.command ?? '')))) {
    return { verdict: 'failed', text: `the server refused the login (${text}); check the SMTP user name and password`, responseCode, reason: 'auth' };
  }
  if (code === 'ETLS' || /certificate|SSL routines|self.signed|TLS/i.test(message) && responseCode === undefined && code !== 'ECONNECTION') {
    return { verdict: 'failed', text: `TLS with the SMTP server failed (${text}); check --smtp-tls and the server's certificate (--smtp-ca-file)`, responseCode, reason: 'tls' };
  }
  if (responseCode !== undefined && responseCode >= 500) return { verdict: 'failed', text, responseCode, reason: 'refused' };
  if (responseCode !== undefined && responseCode >= 400) return { verdict: 'retry', text, responseCode, reason: 'temporary' };
  if (code === 'EMESSAGE' || code === 'EENVELOPE' || code === 'ESTREAM') return { verdict: 'failed', text, responseCode, reason: 'message' };
  return { verdict: handedOver ? 'unknown' : 'retry', text, responseCode, reason: 'network' };
}

/** A RaindropError for `account test` and other direct uses. */
export function smtpError(err: unknown, what: string, secrets: readonly string[]): RaindropError {
  if (err instanceof RaindropError) return err;
  const failure = classifyFailure(err, false, secrets);
  const code = failure.reason === 'auth' ? errorCodes.MAIL_AUTH : failure.reason === 'tls' ? errorCodes.MAIL_TLS : failure.reason === 'network' ? errorCodes.MAIL_UNREACHABLE : errorCodes.MAIL_PROTOCOL;
  const reason = failure.reason === 'network' ? 'refused' : failure.reason;
  return new RaindropError(code, redactText(`${what}: ${failure.text}`, secrets), { details: { reason } });
}
