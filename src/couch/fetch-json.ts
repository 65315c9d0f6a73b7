import type { Couch } from './connect.js';

export interface FetchJsonOptions {
  method?: 'GET' | 'POST';
  /** Path below the server root, e.g. `mydb/_changes`. */
  path: string;
  qs?: Record<string, string | number | boolean>;
  body?: unknown;
  signal?: AbortSignal;
}

/**
 * A JSON request without nano, for streaming-ish requests (the longpoll changes feed):
 * nano swallows a body that breaks off mid-read and its promise never settles, which
 * would leave a follower hanging forever on a dropped connection. Errors are shaped
 * like nano's (`statusCode`, `error`, `reason`) so `toCouchError` handles both.
 */
export async function fetchJson(couch: Couch, options: FetchJsonOptions): Promise<unknown> {
  const url = new URL(`${couch.url}/${options.path}`);
  for (const [name, value] of Object.entries(options.qs ?? {})) {
    url.searchParams.set(name, typeof value === 'string' ? value : JSON.stringify(value));
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  if (couch.authorization) headers.authorization = couch.authorization;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.signal ? { signal: options.signal } : {}),
    redirect: 'error',
  });
  const text = await readBody(response, options.signal);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const info = (body ?? {}) as { error?: string; reason?: string };
    throw Object.assign(new Error(info.reason ?? `HTTP ${response.status}`), {
      statusCode: response.status,
      error: info.error ?? 'http_error',
      reason: info.reason ?? text.slice(0, 200),
    });
  }
  if (body === undefined) {
    // A body cut short arrives as truncated JSON: treat it like a dropped connection.
    throw new Error(`the server's answer to ${options.path.split('?')[0]} was not complete JSON`);
  }
  return body;
}

/**
 * The body as text, given up at once when `signal` aborts. Node's fetch did not end
 * `response.text()` on an abort that came after the headers: a longpoll feed answers its
 * headers at once, so a stop while the server was busy (an index build on the embedded
 * server) waited for the server's next byte, and Ctrl-C on `serve` ran out its 20 s grace.
 * Cancelling the reader closes the connection.
 */
async function readBody(response: Response, signal: AbortSignal | undefined): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      if (signal?.aborted) break;
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
    if (signal?.aborted) {
      await reader.cancel().catch(() => undefined);
      throw Object.assign(new Error('the request was aborted'), { name: 'AbortError' });
    }
    return text + decoder.decode();
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
