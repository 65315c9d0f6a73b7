import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { readAttachment } from '../../src/couch/read-attachment.js';
import { importPaths } from '../../src/protocols/import/import-messages.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { type Corpus, openCorpus } from '../helpers/corpus.js';
import { useTestDatabase } from '../helpers/test-database.js';
import { onlyOn } from '../helpers/server-kind.js';
import { EMBEDDED_MAX_ATTACHMENT_BYTES } from '../../src/couch/embedded/limits.js';

const t = useTestDatabase('import');
// CouchDB's own attachment limit (max_attachment_size) is far above what a test can send.
const embeddedOnly = onlyOn('embedded', 'the attachment limit refused here is the embedded server\'s own');
let registry: SchemaRegistry;
let corpus: Corpus;
let work: string;

/** The directory holding the .eml files of an unpacked archive (it may nest one level). */
async function emlDir(root: string): Promise<string> {
  const entries = await readdir(root, { withFileTypes: true });
  return entries.length === 1 && entries[0]?.isDirectory() ? join(root, entries[0].name) : root;
}

const rawId = (bytes: Buffer) => {
  const key = messageKey(bytes);
  if (!key.ok) throw new Error(key.reason);
  return docIdFor(key.key, 'rd.msg.rfc822');
};

beforeAll(async () => {
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(t.db, builtInSchemaDir());
  registry = await SchemaRegistry.load(t.db);
  corpus = await openCorpus(inject('corpusDir'));
  work = join(corpus.dir, 'work');
  await mkdir(work, { recursive: true });
});
afterAll(async () => {
  await registry.close();
  await corpus.remove();
});

describe('import', () => {
  it('imports an mbox of real messages byte for byte, undoing ">From " escaping', async () => {
    const cake = await emlDir(await corpus.unpack('cake'));
    const files = (await readdir(cake)).filter((f) => f.endsWith('.eml')).sort().slice(0, 40);
    const originals = await Promise.all(files.map((f) => readFile(join(cake, f))));
    // A body line starting with "From " must be escaped in an mbox; add one to be sure.
    originals[0] = Buffer.concat([originals[0] as Buffer, Buffer.from('From the archive, a line that needs escaping\n>From an already quoted line\n')]);
    const escape = (m: Buffer) => Buffer.from(m.toString('latin1').replace(/^(>*From )/gm, '>$1'), 'latin1');
    const mbox = Buffer.concat(originals.map((m) => Buffer.concat([Buffer.from('From someone@example.org Thu Jan  1 00:00:00 2015\n'), escape(m), Buffer.from(m.at(-1) === 10 ? '\n' : '\n\n')])));
    await writeFile(join(work, 'archive.mbox'), mbox);
    const summary = await importPaths(registry, t.db, [join(work, 'archive.mbox')]);
    expect(summary).toMatchObject({ imported: 40, duplicate: 0, refused: [] });
    for (const original of [originals[0] as Buffer, originals[17] as Buffer, originals[39] as Buffer]) {
      const stored = await readAttachment(t.db, rawId(original), 'rd.fetch/rfc822');
      // The separator's empty line is not part of a message.
      expect(stored?.toString('latin1').replace(/\n+$/, '')).toBe(original.toString('latin1').replace(/\n+$/, ''));
    }
    // Importing again stores nothing twice.
    expect(await importPaths(registry, t.db, [join(work, 'archive.mbox')])).toMatchObject({ imported: 0, duplicate: 40 });
  });

  it('imports a Maildir (cur and new) and a directory of .eml files, deduplicating across them', async () => {
    const cake = await emlDir(await corpus.unpack('cake'));
    const files = (await readdir(cake)).filter((f) => f.endsWith('.eml')).sort().slice(30, 60);
    const maildir = join(work, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
    for (const [i, f] of files.entries()) await writeFile(join(maildir, i % 2 ? 'cur' : 'new', `${1000 + i}.host${i % 2 ? ':2,FS' : ''}`), await readFile(join(cake, f)));
    const summary = await importPaths(registry, t.db, [maildir]);
    // 30..39 were already imported from the mbox above.
    expect(summary).toMatchObject({ imported: 20, duplicate: 10, refused: [] });
  });

  it('refuses what is not mail with a reason and imports the nasty rest', async () => {
    const nasty = await corpus.unpack('nasty');
    await writeFile(join(work, 'picture.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2000)]));
    await writeFile(join(work, 'empty.eml'), '');
    // A message wrapped in JSON, as the SpamAssassin sample package ships a copy of each.
    await writeFile(join(work, 'wrapped.json'), JSON.stringify({ id: '00001', text: 'From: a@example.org\nSubject: wrapped\n\nbody\n' }));
    const summary = await importPaths(registry, t.db, [join(work, 'picture.png'), join(work, 'empty.eml'), join(work, 'wrapped.json'), nasty]);
    expect(summary.imported).toBeGreaterThan(650);
    const reasons = Object.fromEntries(summary.refused.map((r) => [r.origin.split('/').pop(), r.reason]));
    expect(reasons['picture.png']).toMatch(/no RFC 822 header/);
    expect(reasons['empty.eml']).toMatch(/empty/);
    expect(reasons['wrapped.json']).toMatch(/no RFC 822 header/);
    // Only files that are truly not mail are refused (manifest, header-less bodies).
    expect(summary.refused.length).toBeLessThanOrEqual(9);
  });

  it('passes over data files in a searched directory (the sample package\'s .json beside each .txt), but not a file named on the command line', async () => {
    const dir = join(work, 'sample-package');
    await mkdir(dir, { recursive: true });
    const message = 'From: a@example.org\nSubject: sample\nMessage-ID: <sample-package@example.org>\n\nbody\n';
    await writeFile(join(dir, '00001.abc.txt'), message);
    await writeFile(join(dir, '00001.abc.json'), JSON.stringify({ id: '00001', text: message }));
    const summary = await importPaths(registry, t.db, [dir]);
    expect(summary).toMatchObject({ imported: 1, skipped: 1, refused: [] });
    const named = await importPaths(registry, t.db, [join(dir, '00001.abc.json')]);
    expect(named).toMatchObject({ imported: 0, skipped: 0 });
    expect(named.refused.map((r) => r.reason)).toEqual([expect.stringMatching(/no RFC 822 header/)]);
  });

  it('gives a message without Message-ID a stable synthesized key', async () => {
    const message = Buffer.from('From: a@example.org\r\nSubject: no id\r\n\r\nbody\r\n');
    await writeFile(join(work, 'noid.eml'), message);
    await writeFile(join(work, 'noid-lf.eml'), message.toString().replace(/\r\n/g, '\n'));
    const first = await importPaths(registry, t.db, [join(work, 'noid.eml'), join(work, 'noid-lf.eml')]);
    expect(first).toMatchObject({ imported: 1, duplicate: 1 });
    const doc = await getDoc(t.db, rawId(message));
    expect(doc).toMatchObject({ message_id_synthesized: true, rd_key: ['email', expect.stringMatching(/@synthesized\.raindrop$/)] });
  });

  it('stores a 25 MB message intact', async () => {
    const body = randomBytes(18 * 1024 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
    const big = Buffer.from(`From: big@example.org\r\nMessage-ID: <big-${Date.now()}@example.org>\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`);
    expect(big.length).toBeGreaterThan(24 * 1024 * 1024);
    await writeFile(join(work, 'big.eml'), big);
    expect(await importPaths(registry, t.db, [join(work, 'big.eml')])).toMatchObject({ imported: 1 });
    const stored = await readAttachment(t.db, rawId(big), 'rd.fetch/rfc822');
    expect(stored?.equals(big)).toBe(true);
  });

  it.skipIf(embeddedOnly.skip)(`refuses a message over the server's attachment limit with its reason and imports the rest ${embeddedOnly.label}`, async () => {
    const body = randomBytes(Math.ceil((EMBEDDED_MAX_ATTACHMENT_BYTES * 3) / 4)).toString('base64').replace(/.{76}/g, '$&\r\n');
    const huge = Buffer.from(`From: huge@example.org\r\nMessage-ID: <huge-${Date.now()}@example.org>\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`);
    expect(huge.length).toBeGreaterThan(EMBEDDED_MAX_ATTACHMENT_BYTES);
    const small = Buffer.from(`From: small@example.org\r\nMessage-ID: <small-${Date.now()}@example.org>\r\nSubject: after the huge one\r\n\r\nhello\r\n`);
    await writeFile(join(work, 'huge.eml'), huge);
    await writeFile(join(work, 'small.eml'), small);
    const summary = await importPaths(registry, t.db, [join(work, 'huge.eml'), join(work, 'small.eml')]);
    expect(summary).toMatchObject({ imported: 1, refused: [{ origin: expect.stringContaining('huge.eml'), reason: expect.stringMatching(/refused its \d+ bytes.*413/) }] });
    expect(await getDoc(t.db, rawId(huge))).toBeUndefined();
    expect((await readAttachment(t.db, rawId(small), 'rd.fetch/rfc822'))?.equals(small)).toBe(true);
  });
});
