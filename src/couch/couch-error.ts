import { RaindropError, errorCodes, redactText } from '../core/index.js';

/** What nano attaches to its errors; every field is optional because network failures
 * carry none of them. */
interface NanoErrorShape {
  statusCode?: number;
  error?: string;
  reason?: string;
  message?: string;
  name?: string;
}

/**
 * Turns whatever nano or fetch threw into a RaindropError. The original error is not
 * kept as the cause, because nano's errors carry the request (URL, headers): the cause
 * is a fresh Error holding only the redacted message.
 */
export function toCouchError(err: unknown, action: string, serverUrl: string, secrets: readonly string[] = []): RaindropError {
  if (err instanceof RaindropError) return err;
  const shape = (typeof err === 'object' && err !== null ? err : {}) as NanoErrorShape;
  const rawMessage = redactText(String(shape.reason ?? shape.message ?? err), secrets);
  const cause = new Error(rawMessage);
  const status = typeof shape.statusCode === 'number' ? shape.statusCode : undefined;
  if (shape.name === 'AbortError' || /aborted/i.test(rawMessage)) {
    return new RaindropError(errorCodes.ABORTED, `${action} was stopped because Raindrop is shutting down`, { cause });
  }
  if (status === undefined && /\bbad port\b/i.test(rawMessage)) {
    // Node's fetch (undici) refuses the ports browsers block (6000, 6566, 6665-6669, 10080,
    // ...) before connecting; "could not reach" would send the user looking at a server
    // that is fine.
    return new RaindropError(
      errorCodes.COUCH_UNREACHABLE,
      `${action}: Node refuses to connect to ${serverUrl}: its port is on the list of ports browsers and Node block (such as 6000, 6566, 6665-6669 and 10080). Run CouchDB on another port and change the URL (--couch or RAINDROP_COUCH_URL).`,
      { cause },
    );
  }
  if (status === undefined) {
    return new RaindropError(
      errorCodes.COUCH_UNREACHABLE,
      `${action}: could not reach CouchDB at ${serverUrl} (${rawMessage}). Check that the server is running and that the URL (--couch or RAINDROP_COUCH_URL) is right.`,
      { cause },
    );
  }
  if (status === 401) {
    return new RaindropError(
      errorCodes.COUCH_AUTH,
      `${action}: CouchDB at ${serverUrl} refused the credentials (401 ${shape.error ?? 'unauthorized'}). Check the user name and password in the CouchDB URL or the config file.`,
      { cause, status },
    );
  }
  if (status === 403) {
    return new RaindropError(
      errorCodes.COUCH_AUTH,
      `${action}: CouchDB at ${serverUrl} forbids this for the configured user (403: ${rawMessage}). Use an admin account, or ask the server's admin for the rights.`,
      { cause, status },
    );
  }
  return new RaindropError(
    errorCodes.COUCH_HTTP,
    `${action}: CouchDB at ${serverUrl} answered ${status} ${shape.error ?? ''}: ${rawMessage}`.replace(/ +:/, ':'),
    { cause, status, details: { error: shape.error, reason: redactText(String(shape.reason ?? ''), secrets) } },
  );
}

/** The HTTP status of a nano error, or undefined for network failures. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as NanoErrorShape | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}
