import { RaindropError, errorCodes, redactText, type ErrorCode } from '../../core/index.js';

export type FailureReason = 'dns' | 'refused' | 'tls' | 'auth' | 'timeout' | 'protocol' | 'other';

const reasonCodes: Record<FailureReason, ErrorCode> = {
  dns: errorCodes.MAIL_UNREACHABLE,
  refused: errorCodes.MAIL_UNREACHABLE,
  tls: errorCodes.MAIL_TLS,
  auth: errorCodes.MAIL_AUTH,
  timeout: errorCodes.MAIL_TIMEOUT,
  protocol: errorCodes.MAIL_PROTOCOL,
  other: errorCodes.MAIL_UNREACHABLE,
};

/** Why talking to the server failed, from an imapflow / socket / TLS error. */
export function failureReason(err: unknown): FailureReason {
  const e = err as { code?: unknown; authenticationFailed?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (e?.authenticationFailed === true) return 'auth';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return 'dns';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'refused';
  if (/TIMEOUT/i.test(code) || code === 'ETIMEDOUT') return 'timeout';
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'ClosedAfterConnectTLS' || /STARTTLS|certificate|SSL routines/i.test(message)) return 'tls';
  if (code === 'NoConnection' || code === 'EConnectionClosed' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ClosedAfterConnectText') return 'refused';
  if (code.length > 0 || /NO |BAD /.test(message)) return 'protocol';
  return 'other';
}

/** True when the connection itself is gone (worth reconnecting), not a refusal. */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof RaindropError) return err.code === errorCodes.MAIL_UNREACHABLE || err.code === errorCodes.MAIL_TIMEOUT;
  const reason = failureReason(err);
  return reason === 'refused' || reason === 'timeout' || reason === 'other';
}

const advice: Record<FailureReason, string> = {
  dns: 'the host name does not resolve; check --imap-host',
  refused: 'the connection was refused or dropped; check the host, the port and that the server runs',
  tls: 'TLS failed; check --tls (implicit on 993, starttls on 143) and the server certificate',
  auth: 'the server refused the login; check the user name and the password',
  timeout: 'the server did not answer in time',
  protocol: 'the server answered with an error',
  other: 'the connection failed',
};

/**
 * A RaindropError for a mail-server failure: the reason in `details.reason`, the server's
 * own words where useful, and never the secret (redacted verbatim from every message).
 */
export function mailError(err: unknown, what: string, secrets: readonly string[]): RaindropError {
  if (err instanceof RaindropError) return err;
  const reason = failureReason(err);
  const e = err as { code?: unknown; message?: unknown; responseText?: unknown; serverResponseCode?: unknown } | undefined;
  const server = typeof e?.responseText === 'string' && e.responseText.length > 0 ? e.responseText : typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? ` [${e.code}]` : '';
  const message = redactText(`${what}: ${advice[reason]} (${server}${code})`, secrets);
  return new RaindropError(reasonCodes[reason], message, { details: { reason } });
}
