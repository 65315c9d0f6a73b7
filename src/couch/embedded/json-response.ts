/** The one way the gate and the request policy answer: JSON, CouchDB's error shape. */

import type { ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'must-revalidate');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * Answers a request whose body will not be read (too large, no length): the connection
 * is closed once the answer is out, so the client's remaining bytes are never read.
 */
export function refuseUnreadBody(res: ServerResponse, status: number, body: unknown): void {
  res.setHeader('Connection', 'close');
  res.on('finish', () => res.req.socket.destroy());
  sendJson(res, status, body);
}
