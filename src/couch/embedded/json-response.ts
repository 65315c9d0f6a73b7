/** The one way the gate and the request policy answer: JSON, CouchDB's error shape. */

import type { ServerResponse } from 'node:http';
import { EMBEDDED_MAX_REFUSED_BODY_DRAIN_BYTES, EMBEDDED_REFUSED_BODY_DRAIN_MS } from './limits.js';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'must-revalidate');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * Answers a request whose body will not be used (too large, no length, code refused),
 * at once, without reading the body. A body of a declared length up to
 * EMBEDDED_MAX_REFUSED_BODY_DRAIN_BYTES is then read and dropped (Node's keep-alive
 * handling does that once the answer is out), so a client still sending reads the
 * answer instead of a reset connection (limits.ts says why); a client that stops
 * sending is cut off after EMBEDDED_REFUSED_BODY_DRAIN_MS. Anything else (no length, a
 * bigger one) gets the connection closed after the answer, its body unread.
 */
export function refuseUnreadBody(res: ServerResponse, status: number, body: unknown): void {
  const req = res.req;
  const declared = Number(req.headers['content-length']);
  if (Number.isSafeInteger(declared) && declared <= EMBEDDED_MAX_REFUSED_BODY_DRAIN_BYTES) {
    const timer = setTimeout(() => req.socket.destroy(), EMBEDDED_REFUSED_BODY_DRAIN_MS);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    req.socket.once('close', () => clearTimeout(timer));
  } else {
    res.setHeader('Connection', 'close');
    res.on('finish', () => req.socket.destroy());
  }
  sendJson(res, status, body);
}
