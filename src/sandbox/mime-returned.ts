import { MailParser } from 'mailparser';

/**
 * What a bounce returns: the Message-IDs in a returned message or header block
 * (message/rfc822, text/rfc822-headers...), read by mailparser, so rd.std.parseMime can
 * tell which message a delivery status notification reports on.
 */

/** Parts that hold a message or its headers returned by a bounce (RFC 3462, RFC 6533). */
export const returnedTypes = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/rfc822-headers', 'message/global-headers']);

/** A Message-ID header value (mailparser gives "<id>") without the brackets. */
export function idOfHeaders(headers: Map<string, unknown> | undefined): string | null {
  const value = headers?.get('message-id');
  if (typeof value !== 'string') return null;
  const id = value.trim().replace(/^<|>$/g, '').trim();
  return id.length > 0 && id.length <= 500 ? id : null;
}

/** The Message-IDs of a returned message or header block, by mailparser (a header block
 * alone parses as a message without a body): its own first, then those of messages it
 * returns in turn (an Exchange DSN attaches a copy of itself that holds the original),
 * at most `depth` levels down. */
export async function messageIdsOfReturned(bytes: Buffer, depth: number, maxBytes: number): Promise<string[]> {
  if (bytes.length === 0) return [];
  const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true } as ConstructorParameters<typeof MailParser>[0]);
  const nested: Buffer[][] = [];
  const own = await new Promise<string | null>((resolve) => {
    let id: string | null = null;
    parser.on('headers', (h: Map<string, unknown>) => {
      id = idOfHeaders(h);
    });
    parser.on('data', (data: { type: string; contentType?: string; content?: NodeJS.ReadableStream; release?: () => void }) => {
      if (data.type !== 'attachment') return;
      const keep: Buffer[] | undefined = depth > 0 && returnedTypes.has((data.contentType ?? '').toLowerCase()) ? [] : undefined;
      if (keep) nested.push(keep);
      let size = 0;
      data.content?.on('data', (chunk: Buffer) => {
        if (keep && size < maxBytes) keep.push(chunk.subarray(0, maxBytes - size));
        size += chunk.length;
      });
      data.content?.on('end', () => data.release?.());
    });
    parser.on('error', () => resolve(id));
    parser.on('end', () => resolve(id));
    parser.end(bytes);
  });
  const inner: string[] = [];
  for (const chunks of nested) inner.push(...(await messageIdsOfReturned(Buffer.concat(chunks), depth - 1, maxBytes)));
  return [...new Set([...(own === null ? [] : [own]), ...inner])];
}
