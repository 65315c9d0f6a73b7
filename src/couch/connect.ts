import nano from 'nano';
import type { DocumentScope, ServerScope } from 'nano';
import { RaindropError, errorCodes, redactUrl } from '../core/index.js';
import { statusOf, toCouchError } from './couch-error.js';
import { couchLimits } from './limits.js';

export interface CouchCredentials {
  readonly username: string;
  readonly password: string;
}

/** A connection to one CouchDB server. `url` never holds credentials. */
export interface Couch {
  readonly url: string;
  readonly server: ServerScope;
  /** Strings that must never appear in output (the password, raw and URL-encoded). */
  readonly secrets: readonly string[];
  /** The Authorization header value, for the few requests made without nano. */
  readonly authorization: string | undefined;
}

/** One database on a server. */
export interface Db {
  readonly couch: Couch;
  readonly name: string;
  readonly scope: DocumentScope<unknown>;
}

/**
 * Connects by URL. Credentials may be in the URL (`http://user:pw@host:5984`) or given
 * apart; either way they become a Basic auth header and are scrubbed from everything
 * this layer reports. Nothing is sent until the first request.
 */
export function connectCouch(url: string, credentials?: CouchCredentials): Couch {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new RaindropError(
      errorCodes.CONFIG_INVALID,
      `the CouchDB URL ${redactUrl(url)} is not a URL; use the form http://user:password@host:5984`,
      { cause },
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new RaindropError(errorCodes.CONFIG_INVALID, `the CouchDB URL must start with http:// or https://, got ${parsed.protocol}`);
  }
  if (credentials) {
    parsed.username = encodeURIComponent(credentials.username);
    parsed.password = encodeURIComponent(credentials.password);
  }
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const authorization = username || password ? `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` : undefined;
  const secrets = password ? [password, encodeURIComponent(password)] : [];
  const withAuth = parsed.toString().replace(/\/$/, '');
  return {
    url: redactUrl(withAuth).replace(/\/$/, ''),
    server: nano({ url: withAuth }),
    secrets,
    authorization,
  };
}

export function useDatabase(couch: Couch, name: string): Db {
  return { couch, name, scope: couch.server.use(name) };
}

/**
 * A kept-alive socket that the server closed while this process was busy (its event loop
 * blocked past the server's idle timeout, so the client's own idle timer could not fire
 * first) fails the next request sent on it before any answer: "other side closed",
 * ECONNRESET. Seen with two commands at once on a loaded machine.
 */
const droppedSocket = /other side closed|ECONNRESET|socket hang up|UND_ERR_SOCKET/i;

function isDroppedSocket(err: unknown): boolean {
  if (statusOf(err) !== undefined) return false;
  const shape = (typeof err === 'object' && err !== null ? err : {}) as { message?: unknown; reason?: unknown; code?: unknown };
  return droppedSocket.test(`${String(shape.message ?? '')} ${String(shape.reason ?? '')} ${String(shape.code ?? '')}`);
}

/**
 * Runs one request and turns its failure into a RaindropError naming `action`. A request
 * whose socket was dropped is sent again on a new connection (couchLimits says how often):
 * safe for every request Raindrop makes, because reads are reads and every write names
 * its document and revision, so a write that did land the first time comes back as a
 * 409 that the callers already treat as a value.
 */
export async function callCouch<T>(couch: Couch, action: string, request: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      if (attempt < couchLimits.droppedSocketRetries && isDroppedSocket(err)) continue;
      throw toCouchError(err, action, couch.url, couch.secrets);
    }
  }
}
