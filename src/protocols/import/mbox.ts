import { createReadStream } from 'node:fs';

/**
 * Splits an mbox file into messages, streaming (mbox files can be gigabytes). A message
 * starts at a "From " line at the start of the file or after an empty line; the
 * "From " line itself is not part of the message. Lines escaped as ">From " (mboxo) or
 * ">>From " (mboxrd) lose one ">", which is right for mboxrd and for the common case of
 * mboxo; a literal ">From " in an mboxo file cannot be told apart from an escaped one.
 */
export async function* readMbox(path: string): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  let lines: Buffer[] = [];
  let previousBlank = true;
  let started = false;
  const flush = function* (): Generator<Buffer> {
    if (!started) return;
    // The empty line before the next "From " separates messages; it is not content.
    while (lines.length > 0 && isBlank(lines[lines.length - 1] as Buffer)) lines.pop();
    if (lines.length > 0) yield Buffer.concat(lines);
    lines = [];
  };
  const take = function* (line: Buffer): Generator<Buffer> {
    if (previousBlank && startsWith(line, 'From ')) {
      yield* flush();
      started = true;
      previousBlank = false;
      return;
    }
    if (!started) {
      // Not an mbox after all (no leading From line): treat the whole file as one message.
      started = true;
    }
    lines.push(unescapeFrom(line));
    previousBlank = isBlank(line);
  };
  for await (const chunk of createReadStream(path)) {
    let data = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
      yield* take(data.subarray(start, nl + 1));
      start = nl + 1;
    }
    carry = Buffer.from(data.subarray(start));
    data = Buffer.alloc(0);
  }
  if (carry.length > 0) yield* take(carry);
  yield* flush();
}

function startsWith(line: Buffer, prefix: string): boolean {
  return line.length >= prefix.length && line.toString('latin1', 0, prefix.length) === prefix;
}

function isBlank(line: Buffer): boolean {
  return line.length === 0 || (line.length === 1 && line[0] === 10) || (line.length === 2 && line[0] === 13 && line[1] === 10);
}

function unescapeFrom(line: Buffer): Buffer {
  if (line[0] !== 62) return line; // '>'
  let i = 0;
  while (line[i] === 62) i++;
  return line.toString('latin1', i, i + 5) === 'From ' ? line.subarray(1) : line;
}

/** True when a file looks like an mbox: it starts with a "From " line. */
export function looksLikeMbox(head: Buffer): boolean {
  return head.toString('latin1', 0, 5) === 'From ';
}
