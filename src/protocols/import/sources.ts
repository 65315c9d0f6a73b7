import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { looksLikeMbox, readMbox } from './mbox.js';

/** One message found on disk, with where it came from (for the summary). */
export interface FoundMessage {
  origin: string;
  kind: 'mbox' | 'maildir' | 'eml';
  bytes: Buffer;
  /** Maildir flags from the file name (":2,FS"): seen, flagged, replied, trashed, draft. */
  flags?: string[];
}

export type Found = FoundMessage | { origin: string; refused: string } | { origin: string; skipped: string };

/**
 * Names that are never a message, passed over when a directory is searched (a file named
 * on the command line is always read): corpora ship metadata beside the mail (the
 * SpamAssassin package of the sample import has a .json for every .txt), and refusing
 * each of those would bury the refusals that matter.
 */
const notMailByName = /\.(?:json|ya?ml|csv|md|html?|xml|js|py|sh)$/i;

/**
 * Walks the paths: a directory with cur/ or new/ is a Maildir; any other directory is
 * searched for files; a file starting with a "From " line is an mbox (one or many
 * messages), anything else one message (.eml).
 */
export async function* findMessages(paths: readonly string[]): AsyncGenerator<Found> {
  for (const path of paths) yield* walk(path);
}

async function* walk(path: string): AsyncGenerator<Found> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    yield { origin: path, refused: `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    return;
  }
  if (info.isDirectory()) {
    const entries = await readdir(path, { withFileTypes: true });
    const names = entries.map((e) => e.name);
    if (names.includes('cur') || names.includes('new')) {
      yield* readMaildir(path);
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      if (entry.isFile() && notMailByName.test(entry.name)) {
        yield { origin: join(path, entry.name), skipped: 'not mail by its name' };
        continue;
      }
      yield* walk(join(path, entry.name));
    }
    return;
  }
  if (!info.isFile()) return;
  const head = Buffer.alloc(5);
  const handle = await open(path, 'r');
  try {
    await handle.read(head, 0, 5, 0);
  } finally {
    await handle.close();
  }
  if (looksLikeMbox(head)) {
    let n = 0;
    for await (const bytes of readMbox(path)) yield { origin: `${path}#${++n}`, kind: 'mbox', bytes };
    return;
  }
  yield { origin: path, kind: 'eml', bytes: await readFile(path) };
}

const maildirFlags: Record<string, string> = { S: 'seen', F: 'flagged', R: 'replied', T: 'trashed', D: 'draft', P: 'passed' };

async function* readMaildir(dir: string): AsyncGenerator<Found> {
  for (const sub of ['cur', 'new']) {
    let names: string[];
    try {
      names = (await readdir(join(dir, sub))).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const info = /:2,([A-Za-z]*)$/.exec(basename(name));
      const flags = [...(info?.[1] ?? '')].map((c) => maildirFlags[c]).filter((f): f is string => f !== undefined);
      yield { origin: join(dir, sub, name), kind: 'maildir', bytes: await readFile(join(dir, sub, name)), flags };
    }
  }
  // Maildir++ sub-folders (".Sent", ".Archive") are Maildirs themselves.
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name.startsWith('.') && entry.name !== '.' && entry.name !== '..') yield* readMaildir(join(dir, entry.name));
  }
}
