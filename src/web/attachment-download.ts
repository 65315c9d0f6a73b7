/**
 * `GET /_raindrop/attachment/<db>/<rd.attach.file document id>`: one attachment of a
 * message, cut out of the raw RFC 822 bytes. CouchDB cannot do this (the bytes are
 * inside the raw message), so `raindrop serve` does it, with mailparser: the same parser
 * whose part numbers rd.ext.attachments recorded, so the part id always names the same
 * part. Both reads go upstream with the browser's own cookie, never the server's admin
 * login: whoever cannot read the message cannot download its attachments.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { simpleParser } from 'mailparser';

export interface Upstream {
  /** CouchDB base URL without credentials. */
  origin: string;
}

const dbPattern = /^[a-z][a-z0-9_$()+/-]*$/;

function send(res: ServerResponse, status: number, reason: string, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify({ error: status === 404 ? 'not_found' : 'error', reason })}\n`);
}

function userHeaders(req: IncomingMessage): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json' };
  if (req.headers.cookie) h.Cookie = req.headers.cookie;
  if (req.headers.authorization) h.Authorization = req.headers.authorization;
  return h;
}

export async function serveAttachment(req: IncomingMessage, res: ServerResponse, path: string, upstream: Upstream, headers: Record<string, string>): Promise<void> {
  const parts = path.split('/').slice(3).map((p) => decodeURIComponent(p));
  const [db, docId] = parts;
  if (!db || !docId || parts.length !== 2 || !dbPattern.test(db) || !docId.endsWith('!rd.attach.file')) return send(res, 400, 'expected /_raindrop/attachment/<db>/<rd.attach.file id>', headers);
  const base = `${upstream.origin}/${encodeURIComponent(db)}`;
  const fileRes = await fetch(`${base}/${encodeURIComponent(docId)}`, { headers: userHeaders(req) });
  if (!fileRes.ok) return send(res, fileRes.status, 'no such attachment, or not yours to read', headers);
  const file = (await fileRes.json()) as { name?: string; content_type?: string; part_id?: string; raw?: { doc_id?: string; attachment?: string; part_id?: string } };
  const raw = file.raw;
  if (!raw?.doc_id || !raw.attachment) return send(res, 404, 'the attachment item names no raw message', headers);
  const rawRes = await fetch(`${base}/${encodeURIComponent(raw.doc_id)}/${raw.attachment.split('/').map(encodeURIComponent).join('/')}`, { headers: userHeaders(req) });
  if (!rawRes.ok) return send(res, rawRes.status, 'the raw message is not readable', headers);
  const parsed = await simpleParser(Buffer.from(await rawRes.arrayBuffer()), { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
  const wanted = raw.part_id ?? file.part_id;
  const part = parsed.attachments.find((a) => (a as { partId?: string }).partId === wanted);
  if (!part) return send(res, 404, `part ${String(wanted)} is not in the raw message`, headers);
  const name = file.name ?? part.filename ?? 'attachment';
  res.writeHead(200, {
    ...headers,
    'Content-Type': file.content_type ?? part.contentType ?? 'application/octet-stream',
    'Content-Length': String(part.content.length),
    // Always a download, never shown inline on the app's origin.
    'Content-Disposition': `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    'Cache-Control': 'private, no-store',
  });
  res.end(part.content);
}
