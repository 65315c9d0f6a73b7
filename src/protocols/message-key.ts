import { createRequire } from 'node:module';
import { sha256Hex } from '../core/index.js';

const require = createRequire(import.meta.url);
// mailsplit (nodemailer's splitter) parses the header block: folding, case, encodings.
const { Headers } = require('mailsplit') as { Headers: new (raw: Buffer) => { getFirst(key: string): string; getList(): Array<{ key: string }> } };

/** Longest header block looked at: a real one is a few KB; 256 KB covers pathological
 * Received chains without reading a whole 25 MB message into a string. */
const maxHeaderBytes = 256 * 1024;

export type MessageKey =
  | { ok: true; key: ['email', string]; synthesized: boolean }
  | { ok: false; reason: string };

/**
 * The item key of a raw message: `["email", <Message-ID without angle brackets>]`, so one
 * message seen in two folders, two accounts or an import is stored once. Without a
 * usable Message-ID the id is synthesized from the content (line endings normalised),
 * which is stable across fetches of the same bytes.
 */
export function messageKey(bytes: Uint8Array): MessageKey {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = headerBlock(buffer);
  if (!header) return { ok: false, reason: 'no RFC 822 header found at the start (expected "Name: value" lines)' };
  const headers = new Headers(header);
  if (headers.getList().length === 0) return { ok: false, reason: 'no RFC 822 header found at the start (expected "Name: value" lines)' };
  const raw = headers.getFirst('message-id');
  const id = (/<([^<>\s]+)>/.exec(raw)?.[1] ?? raw.replace(/[<>\s]/g, '')).trim();
  // Bogus ids ("<>", "<yes>", one word without "@") would merge unrelated messages.
  if (id.length >= 3 && id.includes('@') && id.length <= 900) return { ok: true, key: ['email', id], synthesized: false };
  const normalised = buffer.toString('latin1').replace(/\r\n/g, '\n');
  return { ok: true, key: ['email', `${sha256Hex(Buffer.from(normalised, 'latin1')).slice(0, 40)}@synthesized.raindrop`], synthesized: true };
}

/** The header block (up to the first empty line), or undefined when the bytes do not
 * start with something that looks like a header line. */
function headerBlock(buffer: Buffer): Buffer | undefined {
  const head = buffer.subarray(0, Math.min(buffer.length, maxHeaderBytes));
  // Tolerate a leading mbox "From " line, and whitespace or blank lines before the first
  // header (seen in real broken mail: " From: ..." on the first line).
  let start = 0;
  const text = head.toString('latin1');
  if (text.startsWith('From ')) start = text.indexOf('\n') + 1;
  while (start < text.length && /[ \t\r\n]/.test(text[start] as string)) start++;
  // The first field name must be token-like (letters, digits, "-", "_", "."), stricter than
  // RFC 5322's ftext, which also allows "{" and '"': a JSON file ('{"id": ...') passed
  // the looser test and was stored as a header-less "message". Every message of the
  // corpora (openwrt-devel, cake, nasty, SpamAssassin) passes this one.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*[ \t]*:/.test(text.slice(start, start + 1000))) return undefined;
  const end = text.slice(start).search(/\r?\n\r?\n/);
  return head.subarray(start, end < 0 ? head.length : start + end + 1);
}
