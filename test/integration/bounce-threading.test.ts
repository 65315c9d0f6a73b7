/**
 * Bounces (delivery status notifications) join the conversation of the message they
 * report on (rd.ext.thread's `bounce_of`, through the real queue with email.js, thread.js
 * and conversation.js): real DSNs of the nasty set and the SpamAssassin set, each with
 * its original (the real one where the corpus has it, else a minimal hand-made message
 * carrying the Message-ID the DSN reports); a message that quotes and forwards headers
 * and a real read receipt (MDN) are not bounces.
 */
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { openCorpus, spamAssassinDir, type Corpus } from '../helpers/corpus.js';
import { runQueueOnce } from '../helpers/queue.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('bounce');
let registry: SchemaRegistry;
let corpus: Corpus;

/** Real DSNs and the Message-ID each reports on (read by hand from the returned headers). */
const dsns: Array<{ file: string; id: string; bounceOf: string; what: string }> = [
  { file: 'nasty/mailparser-github/fixtures__delivery-status.eml', id: 'xxxxxxxxxxx@email.amazonses.com', bounceOf: 'xxxxx@email.amazonses.com', what: 'Amazon SES: multipart/report, attached message/rfc822' },
  { file: 'nasty/debian-flufl-bounce-dsn/dsn_05.txt.eml', id: 'B0008606065@cuk.atlas.cz', bounceOf: 'pfchbtkf3j0p7prf0sp45vi21fro3bs7ad@4ax.com', what: 'VOPmail: message/rfc822-headers (non-standard type)' },
  { file: 'nasty/debian-flufl-bounce-dsn/dsn_15.txt.eml', id: '7CvPg3IK9000149b3@cccclyna01.ccc.coopcam.com', bounceOf: 'mailman.4360.1149475419.1567.gpc-talk@grizz.org', what: 'Exchange: a DSN wrapped in multipart/mixed (its own id skipped)' },
  { file: 'nasty/debian-flufl-bounce-dsn/dsn_17.txt.eml', id: '20080504053010.83D5413301A@be37.mail.saunalahti.fi', bounceOf: 'mailman.150418.1209869464.31038.pray4-team@strategicnetwork.org', what: 'delay notice: quoted-printable text/rfc822-headers in multipart/mixed' },
  { file: 'nasty/debian-flufl-bounce-dsn/exim_01.txt.eml', id: 'E11SrFM-00058o-00@stereo.rotzorg.org', bounceOf: '19990920022322.A19735@stereo.rotzorg.org', what: 'Exim: the returned message copied into a text/plain body' },
];
/** SpamAssassin easy-ham-2: a MAILER-DAEMON DSN (text/rfc822-headers) and the real original it reports on. */
const saBounce = { file: 'easy-ham-2/01311.b6a06b3e24130a32172b4c5225a1d5a6.txt', original: 'easy-ham-2/01305.0dd9ad5503a8fd6b3678fe480ca4df68.txt', bounceOf: '200207240142.23673@malte.stretz.eu.org' };
/** A real read receipt (multipart/report; report-type=disposition-notification): not a bounce. */
const mdn = 'nasty/debian-flufl-bounce-dsn/simple_38.txt.eml';

const original = (id: string, i: number) =>
  Buffer.from(`From: Sender ${i} <sender${i}@origin${i}.example>\r\nTo: list${i}@lists${i}.example\r\nSubject: Original message ${i}\r\nDate: Mon, 1 Jan 2001 10:00:00 +0000\r\nMessage-ID: <${id}>\r\n\r\nHello ${i}.\r\n`);

/** A person forwarding a message and quoting its headers: the reported id appears, but no bounce. */
const forward = (id: string) =>
  Buffer.from(
    [
      'From: Ann <ann@people.example>',
      'To: Bob <bob@people.example>',
      'Subject: Look at what came in',
      'Date: Tue, 2 Jan 2001 10:00:00 +0000',
      'Message-ID: <not-a-bounce@people.example>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'The headers were:',
      '',
      `Message-ID: <${id}>`,
      'Subject: Original message',
      '',
      '--b1',
      'Content-Type: message/rfc822',
      'Content-Disposition: attachment',
      '',
      'From: Someone <someone@elsewhere.example>',
      `Message-ID: <${id}>`,
      'Subject: Original message',
      '',
      'Body.',
      '--b1--',
      '',
    ].join('\r\n'),
  );

beforeAll(async () => {
  corpus = await openCorpus(inject('corpusDir'));
  const only = join(corpus.dir, 'bounce-extensions');
  await mkdir(only, { recursive: true });
  for (const file of ['email.js', 'thread.js', 'conversation.js']) await cp(join(projectRoot, 'extensions', file), join(only, file));
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  const schemas = await installSchemas(t.db, builtInSchemaDir());
  expect(schemas.refused).toEqual([]);
  registry = await SchemaRegistry.load(t.db);
  expect((await installExtensions(registry, t.db, [only], silentLogger)).refused).toEqual([]);
  const nasty = await corpus.unpack('nasty');
  const files = [...dsns.map((d) => join(nasty, d.file)), join(nasty, mdn), join(spamAssassinDir, saBounce.file), join(spamAssassinDir, saBounce.original)];
  const messages = await Promise.all(files.map(async (f) => ({ bytes: await readFile(f), receivedFrom: 'import:test' })));
  messages.push(...dsns.map((d, i) => ({ bytes: original(d.bounceOf, i), receivedFrom: 'import:test' })));
  messages.push({ bytes: forward(dsns[4]!.bounceOf), receivedFrom: 'import:test' });
  await storeRawMessages(registry, t.db, messages);
  await runQueueOnce(t.db, registry, 2);
}, 120_000);
afterAll(async () => {
  await registry?.close();
  await corpus?.remove();
});

const threadOf = (id: string) => getDoc(t.db, docIdFor(['email', id], 'rd.msg.thread'));
const convOf = async (id: string) => ((await getDoc(t.db, docIdFor(['email', id], 'rd.msg.conversation')))?.conversation_id as [string, string] | undefined)?.[1];

describe('bounces join the conversation of the message they report on', () => {
  it.each(dsns)('$file ($what)', async (d) => {
    const thread = await threadOf(d.id);
    expect(thread).toMatchObject({ bounce_of: d.bounceOf, parent_id: d.bounceOf });
    expect((thread?.references as string[]).at(-1)).toBe(d.bounceOf);
    const conv = await convOf(d.id);
    expect(conv).toBeDefined();
    expect(await convOf(d.bounceOf)).toBe(conv);
  });

  it('a real SpamAssassin bounce joins its real original', async () => {
    const bounce = (await readFile(join(spamAssassinDir, saBounce.file), 'latin1')).match(/^Message-Id:\s*<([^>]+)>/im)![1]!;
    expect(await threadOf(bounce)).toMatchObject({ bounce_of: saBounce.bounceOf });
    expect(await convOf(saBounce.bounceOf)).toBe(await convOf(bounce));
    const summary = await getDoc(t.db, docIdFor(['conv', (await convOf(bounce))!], 'rd.conv.summary'));
    expect(summary?.message_ids).toEqual(expect.arrayContaining([bounce, saBounce.bounceOf]));
  });

  it('a message quoting or forwarding headers, and a read receipt, are not bounces', async () => {
    const fwd = await threadOf('not-a-bounce@people.example');
    expect(fwd).toBeDefined();
    expect(fwd).not.toHaveProperty('bounce_of');
    expect(fwd?.references).toEqual([]);
    expect(await convOf('not-a-bounce@people.example')).not.toBe(await convOf(dsns[4]!.bounceOf));
    const receiptId = (await readFile(join(await corpus.unpack('nasty'), mdn), 'latin1')).match(/^Message-ID:\s*<([^>]+)>/im)![1]!;
    const receipt = await threadOf(receiptId);
    expect(receipt).toBeDefined();
    expect(receipt).not.toHaveProperty('bounce_of');
  });
});
