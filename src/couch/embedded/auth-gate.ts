/**
 * Raindrop's door in front of express-pouchdb. express-pouchdb runs as an admin party and
 * its own auth cannot be trusted (it does not enforce `_security`, and an anonymous
 * `PUT /<db>` crashes it), so nothing unauthenticated may reach it: this gate answers the
 * anonymous endpoints itself (`GET /`, `/_session`) and forwards only requests carrying
 * the admin's Basic credentials or a valid `AuthSession` cookie. Response shapes follow
 * CouchDB's cookie-authentication API so that CouchDB clients and the web app work
 * unchanged.
 */

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './json-response.js';
import { SESSION_BODY_LIMIT_BYTES, SESSION_REFRESH_FRACTION, SESSION_TIMEOUT_S } from './limits.js';
import type { MemberAccess } from './member-access.js';
import type { Member, MemberStore } from './member-store.js';

export const SESSION_COOKIE = 'AuthSession';
export const EMBEDDED_VENDOR_NAME = 'Raindrop embedded server (express-pouchdb)';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface AuthGateOptions {
  username: string;
  password: string;
  cookieSecret: string;
  /** Reported as `version` in the welcome JSON: the express-pouchdb version serving the API. */
  version: string;
  /** Receives authenticated requests only, with their credentials removed. */
  next: RequestHandler;
  /** Users besides the admin (the web app's member login) and what they may do. */
  members?: { store: MemberStore; access: MemberAccess };
  /** Clock in milliseconds; tests move it to expire cookies. */
  now?: () => number;
}

type Authentication =
  | { kind: 'anonymous' }
  | { kind: 'rejected' }
  | { kind: 'basic'; name: string; member?: Member }
  | { kind: 'cookie'; name: string; expiresAt: number; member?: Member };

const ADMIN_ROLES = ['_admin'];
const AUTH_HANDLERS = ['cookie', 'default'];

export function createAuthGate(options: AuthGateOptions): RequestHandler {
  const now = options.now ?? Date.now;
  // The password is part of the key so that a new password invalidates old cookies.
  const cookieKey = `${options.cookieSecret}\n${options.password}`;
  // A stable server uuid: PouchDB uses it in replication checkpoint ids.
  const uuid = createHash('sha256').update(`uuid\n${options.cookieSecret}`).digest('hex').slice(0, 32);
  const welcome = {
    couchdb: 'Welcome',
    version: options.version,
    uuid,
    vendor: { name: EMBEDDED_VENDOR_NAME, version: options.version },
  };

  const credentialsMatch = (name: string, password: string): boolean => {
    // Both comparisons always run so that timing does not reveal which one failed.
    const nameOk = safeEqual(name, options.username);
    const passwordOk = safeEqual(password, options.password);
    return nameOk && passwordOk;
  };

  const memberLogin = (name: string, password: string): Member | undefined =>
    name === options.username ? undefined : options.members?.store.verify(name, password);
  // A member's cookie key holds their derived key: a new password ends their sessions.
  const keyFor = (name: string): string | undefined => {
    if (name === options.username) return cookieKey;
    const member = options.members?.store.get(name);
    return member ? `${options.cookieSecret}\n${member.derived_key}` : undefined;
  };

  const authenticate = (req: IncomingMessage): Authentication => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const basic = parseBasic(header);
      if (basic && credentialsMatch(basic.name, basic.password)) return { kind: 'basic', name: basic.name };
      const member = basic ? memberLogin(basic.name, basic.password) : undefined;
      return member && basic ? { kind: 'basic', name: basic.name, member } : { kind: 'rejected' };
    }
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (cookie === undefined) return { kind: 'anonymous' };
    const claimed = cookieName(cookie);
    const key = claimed === undefined ? undefined : keyFor(claimed);
    const session = key === undefined ? undefined : verifySessionCookie(cookie, key, now());
    // A stale or forged cookie makes the request anonymous, as in CouchDB.
    if (!session) return { kind: 'anonymous' };
    if (session.name === options.username) return { kind: 'cookie', name: session.name, expiresAt: session.expiresAt };
    const member = options.members?.store.get(session.name);
    return member ? { kind: 'cookie', name: session.name, expiresAt: session.expiresAt, member } : { kind: 'anonymous' };
  };

  const sessionCookie = (name: string): string => {
    const expiresAt = Math.floor(now() / 1000) + SESSION_TIMEOUT_S;
    return cookieHeader(signSessionCookie(name, expiresAt, keyFor(name) ?? cookieKey), SESSION_TIMEOUT_S);
  };
  const rolesOf = (auth: Authentication): string[] => ('member' in auth && auth.member ? auth.member.roles : ADMIN_ROLES);

  const handleSession = (req: IncomingMessage, res: ServerResponse, auth: Authentication): void => {
    switch (req.method) {
      case 'GET':
      case 'HEAD': {
        if (auth.kind === 'rejected') return sendJson(res, 401, badCredentials);
        const name = auth.kind === 'basic' || auth.kind === 'cookie' ? auth.name : null;
        return sendJson(res, 200, {
          ok: true,
          userCtx: { name, roles: name === null ? [] : rolesOf(auth) },
          info: {
            authentication_handlers: AUTH_HANDLERS,
            ...(name === null ? {} : { authenticated: auth.kind === 'cookie' ? 'cookie' : 'default' }),
          },
        });
      }
      case 'POST':
        return readLogin(req, res, (login) => {
          const admin = login !== undefined && credentialsMatch(login.name, login.password);
          const member = login && !admin ? memberLogin(login.name, login.password) : undefined;
          if (!login || (!admin && !member)) {
            return sendJson(res, 401, badCredentials);
          }
          res.setHeader('Set-Cookie', sessionCookie(login.name));
          sendJson(res, 200, { ok: true, name: login.name, roles: member ? member.roles : ADMIN_ROLES });
        });
      case 'DELETE':
        res.setHeader('Set-Cookie', cookieHeader('', 0));
        return sendJson(res, 200, { ok: true });
      default:
        res.setHeader('Allow', 'DELETE,GET,HEAD,POST');
        return sendJson(res, 405, { error: 'method_not_allowed', reason: 'Only DELETE,GET,HEAD,POST allowed' });
    }
  };

  return (req, res) => {
    try {
      const path = pathOf(req);
      const auth = authenticate(req);
      if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) return sendJson(res, 200, welcome);
      if (path === '/_session') return handleSession(req, res, auth);
      if (auth.kind === 'rejected') return sendJson(res, 401, badCredentials);
      if (auth.kind === 'anonymous') {
        return sendJson(res, 401, { error: 'unauthorized', reason: 'Authentication required.' });
      }
      if (auth.kind === 'cookie' && needsRefresh(auth.expiresAt, now())) {
        res.setHeader('Set-Cookie', sessionCookie(auth.name));
      }
      stripCredentials(req);
      const forward = () => options.next(req, res);
      const failed = (error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', reason: String(error) });
        else res.destroy();
      };
      const members = options.members;
      if (members && auth.member) return void members.access.memberRequest(req, res, auth.member, forward).catch(failed);
      if (members) {
        return void members.access.adminRequest(req, res, forward).then((answered) => answered || forward(), failed);
      }
      forward();
    } catch (error) {
      // The reason stays generic: an exception's text can hold paths and internals.
      process.stderr.write(`auth gate: ${error instanceof Error ? error.message : String(error)}\n`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', reason: 'The server failed on this request.' });
      else res.destroy();
    }
  };
}

const badCredentials = { error: 'unauthorized', reason: 'Name or password is incorrect.' };

/** Cookie value: base64url(name) "." expiry (unix seconds, hex) "." base64url(HMAC-SHA256). */
export function signSessionCookie(name: string, expiresAt: number, key: string): string {
  const payload = `${Buffer.from(name, 'utf8').toString('base64url')}.${expiresAt.toString(16)}`;
  return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
}

export function verifySessionCookie(
  value: string,
  key: string,
  nowMs: number,
): { name: string; expiresAt: number } | undefined {
  const parts = value.split('.');
  if (parts.length !== 3) return undefined;
  const [encodedName, expiresHex, mac] = parts as [string, string, string];
  const expected = createHmac('sha256', key).update(`${encodedName}.${expiresHex}`).digest('base64url');
  if (!safeEqual(mac, expected)) return undefined;
  const expiresAt = Number.parseInt(expiresHex, 16);
  if (!Number.isSafeInteger(expiresAt) || expiresAt * 1000 <= nowMs) return undefined;
  return { name: Buffer.from(encodedName, 'base64url').toString('utf8'), expiresAt };
}

/** The name a cookie claims, before its signature is checked with that user's key. */
function cookieName(value: string): string | undefined {
  const encoded = value.split('.')[0];
  return encoded ? Buffer.from(encoded, 'base64url').toString('utf8') : undefined;
}

function needsRefresh(expiresAt: number, nowMs: number): boolean {
  const remaining = expiresAt - nowMs / 1000;
  return remaining < SESSION_TIMEOUT_S * (1 - SESSION_REFRESH_FRACTION);
}

function cookieHeader(value: string, maxAgeSeconds: number): string {
  // SameSite=Strict: the cookie opens someone's mail, no other site may send it along.
  return `${SESSION_COOKIE}=${value}; Max-Age=${maxAgeSeconds}; Path=/; HttpOnly; SameSite=Strict`;
}

/** Compares digests so that neither the length nor the content leaks through timing. */
function safeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

function parseBasic(header: string): { name: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '';
  }
}

/** express-pouchdb must never see credentials: behind the gate, everyone is the admin. */
function stripCredentials(req: IncomingMessage): void {
  delete req.headers.authorization;
  delete req.headers.cookie;
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    const header = raw[i]?.toLowerCase();
    if (header === 'authorization' || header === 'cookie') raw.splice(i, 2);
  }
}

/** Reads `name` and `password` from a JSON or form-encoded body of bounded size. */
function readLogin(
  req: IncomingMessage,
  res: ServerResponse,
  done: (login: { name: string; password: string } | undefined) => void,
): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json' && type !== 'application/x-www-form-urlencoded') {
    // Drain the body so the connection stays usable, then refuse.
    req.resume();
    req.on('end', () =>
      sendJson(res, 415, {
        error: 'bad_content_type',
        reason: 'Content-Type must be application/json or application/x-www-form-urlencoded',
      }),
    );
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > SESSION_BODY_LIMIT_BYTES) {
      tooLarge = true;
      res.setHeader('Connection', 'close');
      sendJson(res, 413, { error: 'too_large', reason: 'The login request is too large.' });
      res.on('finish', () => req.destroy());
      return;
    }
    chunks.push(chunk);
  });
  req.on('error', () => res.destroy());
  req.on('end', () => {
    if (tooLarge) return;
    const text = Buffer.concat(chunks).toString('utf8');
    done(type === 'application/json' ? parseJsonLogin(text) : parseFormLogin(text));
  });
}

function parseJsonLogin(text: string): { name: string; password: string } | undefined {
  try {
    const value = JSON.parse(text) as { name?: unknown; password?: unknown } | null;
    if (typeof value?.name === 'string' && typeof value.password === 'string') {
      return { name: value.name, password: value.password };
    }
  } catch {
    // An unreadable body is a failed login, not a server error.
  }
  return undefined;
}

function parseFormLogin(text: string): { name: string; password: string } | undefined {
  const form = new URLSearchParams(text);
  const name = form.get('name');
  const password = form.get('password');
  return name !== null && password !== null ? { name, password } : undefined;
}
