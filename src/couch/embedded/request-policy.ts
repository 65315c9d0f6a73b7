/**
 * What an authenticated request may ask of express-pouchdb, decided from its method,
 * path, query and headers before a byte of its body is read:
 *
 * - bodies within the limits of limits.ts, known in advance (Content-Length), else 413
 *   or 411;
 * - no request that would run code sent with it or stored in a design document
 *   (`_temp_view`, `_show`, `_list`, `_update`, `_rewrite`, changes filters by
 *   function): 403 with the reason. pouchdb-guards.ts enforces the same below the routes;
 *   this answers early and plainly.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { refuseUnreadBody, sendJson } from './json-response.js';
import { EMBEDDED_MAX_ATTACHMENT_BYTES, EMBEDDED_MAX_DOCUMENT_BYTES, EMBEDDED_MAX_JSON_BODY_BYTES } from './limits.js';

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

interface Refusal {
  status: number;
  error: string;
  reason: string;
}

const NO_CODE = "the embedded server runs no code from requests or from design documents other than Raindrop's own views";
const DESIGN_FUNCTIONS = new Set(['_show', '_list', '_update', '_rewrite']);
/** Changes filters that are data, not code. */
const DATA_FILTERS = new Set(['_selector', '_doc_ids']);

export function createRequestPolicy(next: RequestHandler): RequestHandler {
  return (req, res) => {
    const refusal = refuseRequest(req);
    if (!refusal) {
      if (req.method === 'PUT' && isAttachmentUpload(req)) holdIncompleteBody(req);
      return next(req, res);
    }
    const body = { error: refusal.error, reason: refusal.reason };
    // A refused body is never read: closing the connection is cheaper than draining it.
    if (hasBody(req)) refuseUnreadBody(res, refusal.status, body);
    else sendJson(res, refusal.status, body);
  };
}

function refuseRequest(req: IncomingMessage): Refusal | undefined {
  const url = parseUrl(req.url);
  if (!url) return { status: 400, error: 'bad_request', reason: 'the request path is not a valid URL path' };
  const segments = pathSegments(url.pathname);
  if (!segments) return { status: 400, error: 'bad_request', reason: 'the request path is not validly percent-encoded' };

  const codeRefusal = refuseCode(segments, url.searchParams);
  if (codeRefusal) return codeRefusal;

  if (req.headers['transfer-encoding'] !== undefined) {
    return { status: 411, error: 'length_required', reason: 'send the body with a Content-Length header: the embedded server checks body sizes before reading them' };
  }
  const length = Number(req.headers['content-length'] ?? 0);
  const [limit, what] =
    req.method === 'PUT' && isAttachmentPath(segments)
      ? [EMBEDDED_MAX_ATTACHMENT_BYTES, 'per attachment']
      : isDocumentWrite(req.method, segments)
        ? [EMBEDDED_MAX_DOCUMENT_BYTES, 'per document']
        : [EMBEDDED_MAX_JSON_BODY_BYTES, 'per request'];
  if (!Number.isSafeInteger(length) || length > limit) {
    return {
      status: 413,
      error: 'too_large',
      reason: `the request body is ${req.headers['content-length']} bytes; the embedded server accepts at most ${limit} bytes ${what}`,
    };
  }
  return undefined;
}

function refuseCode(segments: string[], query: URLSearchParams): Refusal | undefined {
  const [, second, third, fourth] = segments;
  if (second === '_temp_view') return { status: 403, error: 'forbidden', reason: `temporary views are refused: ${NO_CODE}` };
  // `_design/x/_show/...`, also with the slash of `_design/x` percent-encoded.
  const designFunction = second === '_design' ? fourth : second?.startsWith('_design/') ? third : undefined;
  if (designFunction !== undefined && DESIGN_FUNCTIONS.has(designFunction)) {
    return { status: 403, error: 'forbidden', reason: `${designFunction} functions are refused: ${NO_CODE}` };
  }
  if (second === '_changes') {
    const filter = query.get('filter');
    if (query.has('view') || (filter !== null && !DATA_FILTERS.has(filter.replace(/^"|"$/g, '')))) {
      return { status: 403, error: 'forbidden', reason: `changes filters by function are refused (${NO_CODE}); use filter=_selector with a selector, or doc_ids` };
    }
  }
  return undefined;
}

/**
 * express-pouchdb's attachment route ignores a failed body read and stores what it got:
 * an upload cut off midway (the client killed, the network gone) replaced the attachment
 * with an empty one. Hiding the end of an incomplete request from its body reader means
 * the route never sees a body, so nothing is stored; the socket is gone anyway.
 */
function holdIncompleteBody(req: IncomingMessage): void {
  const emit = req.emit.bind(req) as (event: string | symbol, ...args: unknown[]) => boolean;
  req.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (!req.complete && (event === 'aborted' || event === 'close' || event === 'error')) return false;
    return emit(event, ...args);
  }) as typeof req.emit;
}

function isAttachmentUpload(req: IncomingMessage): boolean {
  const url = parseUrl(req.url);
  const segments = url ? pathSegments(url.pathname) : undefined;
  return segments !== undefined && isAttachmentPath(segments);
}

/** `PUT /db/doc` (also `_design/x`, `_local/x`) or `POST /db`: one document. */
function isDocumentWrite(method: string | undefined, segments: string[]): boolean {
  const [, second] = segments;
  if (method === 'POST') return segments.length === 1;
  if (method !== 'PUT') return false;
  return second === '_design' || second === '_local' ? segments.length === 3 : segments.length === 2 && !second?.startsWith('_');
}

/** `/db/doc/name...` or `/db/_design/doc/name...`: a standalone attachment upload. */
function isAttachmentPath(segments: string[]): boolean {
  const [, second] = segments;
  if (second === '_design') return segments.length >= 4;
  if (second === '_local') return false;
  return segments.length >= 3;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function parseUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

function pathSegments(pathname: string): string[] | undefined {
  try {
    return pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}
