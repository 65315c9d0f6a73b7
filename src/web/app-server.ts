/**
 * The one URL a user opens: the web app at `/` and the CouchDB API (the embedded server
 * or `--couch URL`) on the same origin, so the app's session cookie and requests need no
 * CORS. API requests pass through with the browser's own credentials: this server adds
 * none (the upstream URL's login is stripped), so the browser can do exactly what its
 * login may do upstream.
 */
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RaindropError, errorCodes, type Logger } from '../core/index.js';
import type { AppFile } from '../couch/push-app.js';
import { serveAttachment } from './attachment-download.js';
import { apiHeaders, appHeaders } from './security-headers.js';
import { serveSearch, type SearchFunction } from './search-endpoint.js';

export interface AppServerOptions {
  /** The CouchDB (or embedded server) URL; a login in it is removed, never forwarded. */
  couchUrl: string;
  db: string;
  files: readonly AppFile[];
  host?: string;
  port: number;
  logger: Logger;
  /** The search index (raindrop serve's), answered at /_raindrop/search; without it
   * that path says search is not running here. */
  search?: SearchFunction;
}

export interface AppServer {
  url: string;
  close(): Promise<void>;
}

/** The build names the app's script and style after their content (`app.<10 hex>.js`,
 * favicon.<10 hex>.svg, couchapp/build-app.mjs): such a file never changes under its name, so the browser keeps
 * it without asking again and a reload fetches only index.html (which is `no-cache`). */
const contentHashedName = /^[a-z-]+\.[0-9a-f]{10}\.(js|css|svg)$/;

/** Hop-by-hop headers a proxy must not pass on (RFC 9110 §7.6.1). */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate']);

export async function startAppServer(options: AppServerOptions): Promise<AppServer> {
  const upstream = new URL(options.couchUrl);
  upstream.username = '';
  upstream.password = '';
  const origin = upstream.origin + upstream.pathname.replace(/\/$/, '');
  const files = new Map(options.files.map((f) => [f.name, f]));
  const index = files.get('index.html');
  if (!index) throw new RaindropError(errorCodes.NOT_BUILT, 'the web app has no index.html; run "npm run build"');
  const indexHtml = Buffer.from(index.data.toString('utf8').replace('<meta name="raindrop-db" content="">', `<meta name="raindrop-db" content="${options.db.replace(/[^a-z0-9_$()+/-]/g, '')}">`));
  const appPrefix = `/${encodeURIComponent(options.db)}/_design/rd_app/`;

  const sendFile = (res: ServerResponse, method: string, name: string, type: string, body: Buffer) => {
    const cache = contentHashedName.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache';
    res.writeHead(200, { ...appHeaders, 'Content-Type': type, 'Content-Length': String(body.length), 'Cache-Control': cache });
    res.end(method === 'HEAD' ? undefined : body);
  };

  const proxy = (req: IncomingMessage, res: ServerResponse, headers: Record<string, string>) => {
    const target = new URL(origin + (req.url ?? '/'));
    const outHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !hopByHop.has(name) && name !== 'host') outHeaders[name] = value;
    outHeaders.host = target.host;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const up = send(target, { method: req.method ?? 'GET', headers: outHeaders }, (upRes) => {
      // Node hands header names over in lower case; ours replace CouchDB's of the same name
      // (CouchDB's own "sandbox" CSP on attachments would stop the app's scripts).
      const back: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upRes.headers)) if (value !== undefined && !hopByHop.has(name)) back[name] = value;
      for (const [name, value] of Object.entries(headers)) back[name.toLowerCase()] = value;
      res.writeHead(upRes.statusCode ?? 502, back);
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { ...apiHeaders, 'Content-Type': 'application/json' });
        res.end(`${JSON.stringify({ error: 'bad_gateway', reason: `the CouchDB server did not answer: ${err.message}` })}\n`);
      } else res.destroy();
    });
    req.on('aborted', () => up.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://app').pathname;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if ((method === 'GET' || method === 'HEAD') && ((path === '/' && wantsHtml) || path === '/index.html')) return sendFile(res, method, 'index.html', index.contentType, indexHtml);
    const file = files.get(path.slice(1));
    if ((method === 'GET' || method === 'HEAD') && file && path.lastIndexOf('/') === 0 && file.name !== 'index.html') return sendFile(res, method, file.name, file.contentType, file.data);
    if (method === 'GET' && path.startsWith('/_raindrop/attachment/')) {
      serveAttachment(req, res, path, { origin }, apiHeaders).catch((err: unknown) => {
        options.logger.warn('attachment download failed', { error: (err as Error).message });
        if (!res.headersSent) {
          res.writeHead(502, { ...apiHeaders, 'Content-Type': 'application/json' });
          res.end(`${JSON.stringify({ error: 'bad_gateway', reason: (err as Error).message })}\n`);
        } else res.destroy();
      });
      return;
    }
    if (method === 'GET' && path === '/_raindrop/search') {
      const search = options.search;
      if (!search) {
        res.writeHead(503, { ...apiHeaders, 'Content-Type': 'application/json' });
        res.end(`${JSON.stringify({ error: 'unavailable', reason: 'search is not running in this server' })}\n`);
        return;
      }
      serveSearch(req, res, { origin, db: options.db }, search, apiHeaders).catch((err: unknown) => {
        options.logger.warn('search failed', { error: (err as Error).message });
        if (!res.headersSent) {
          res.writeHead(502, { ...apiHeaders, 'Content-Type': 'application/json' });
          res.end(`${JSON.stringify({ error: 'bad_gateway', reason: (err as Error).message })}\n`);
        } else res.destroy();
      });
      return;
    }
    // The app opened from its design document gets the app's CSP, not the sandbox.
    proxy(req, res, path.startsWith(appPrefix) ? appHeaders : apiHeaders);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new RaindropError(errorCodes.USAGE, `the web app cannot listen on port ${options.port}: ${err.code ?? err.message}; pick another with --app-port`)));
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}/`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
