/**
 * rd.ext.quoted, rd.ext.links and rd.ext.attachments in the sandbox on real mail (no
 * CouchDB): the cascade rd.msg.rfc822 -> email -> body -> body.quoted -> attach.link, and
 * email -> attach.file / attachment-summary, on messages picked programmatically from the
 * cake and openwrt-devel archives (../shared/corpus), plus hand-made attribution lines for
 * languages the archives lack. Every output is validated against its schema file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, type RdKey } from '../../src/core/index.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { compileDefinition, type CompiledSchema } from '../../src/schema/compile.js';
import { readSchemaFiles } from '../../src/schema/read-schema-files.js';
import { startSandboxPool, type SandboxPool } from '../../src/sandbox/pool.js';
import { readExtensionFile } from '../../src/sandbox/read-extension-dirs.js';
import type { DocResult } from '../../src/sandbox/types.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { fixtureServices } from '../helpers/sandbox.js';

type Fields = Record<string, unknown>;
interface Part { type: string; text: string; depth?: number; lang?: string; headers?: Record<string, string> }
interface Emitted { id: string; key: RdKey; schemaId: string; fields: Fields }

let pool: SandboxPool;
let corpus: Corpus;
let cake: string[] = [];
let openwrt: string[] = [];
const schemas = new Map<string, CompiledSchema>();

beforeAll(async () => {
  const names = ['email.js', 'body.js', 'quoted.js', 'links.js', 'attachments.js'];
  const sources = await Promise.all(names.map((f) => readExtensionFile(join(projectRoot, 'extensions', f))));
  pool = await startSandboxPool({ sources, size: 2 });
  expect(pool.extensions.map((e) => e.problems)).toEqual(names.map(() => []));
  for (const { definition } of await readSchemaFiles(join(projectRoot, 'schemas'))) schemas.set(definition.id, compileDefinition(definition));
  corpus = await openCorpus(inject('corpusDir'));
  cake = await messageFiles(await corpus.unpack('cake'));
  openwrt = await messageFiles(await corpus.unpack('openwrt-devel'));
}, 120_000);

afterAll(async () => {
  await pool?.close();
  await corpus?.remove();
});

async function run(extension: string, doc: Fields): Promise<Emitted[]> {
  const [result] = (await pool.run(extension, [doc], fixtureServices())) as [DocResult];
  if (!result.ok) throw new Error(`${extension}: ${result.kind}: ${result.message}`);
  const emits = result.emits as unknown as Emitted[];
  for (const e of emits) {
    const schema = schemas.get(e.schemaId);
    expect(schema, e.schemaId).toBeDefined();
    expect(schema!.validate(e.fields), `${e.schemaId} ${JSON.stringify(e.fields).slice(0, 300)}`).toEqual([]);
    expect(schema!.definition.key_types).toContain(e.key[0]);
    expect(schemas.get('rd.core.error')!.definition.key_types).toContain(e.key[0]);
  }
  return emits;
}

/** The whole cascade on raw bytes, as the queue would run it. */
async function cascade(bytes: Uint8Array) {
  const key = messageKey(bytes);
  if (!key.ok) throw new Error(key.reason);
  const rawId = docIdFor(key.key, 'rd.msg.rfc822');
  const [parsed] = (await pool.run('rd.ext.email', [{ _id: rawId, rd_key: key.key, rd_schema_id: 'rd.msg.rfc822' }], fixtureServices({}, { [`${rawId}/rd.fetch/rfc822`]: bytes }))) as [DocResult];
  if (!parsed.ok) throw new Error(`${parsed.kind}: ${parsed.message}`);
  const email: Fields = { _id: parsed.emits[0]!.id, rd_key: key.key, rd_schema_id: 'rd.msg.email', ...parsed.emits[0]!.fields };
  const [b] = await run('rd.ext.body', email);
  const quoted = await quote(key.key, b!.fields.text as string);
  const links = await run('rd.ext.links', { _id: docIdFor(key.key, 'rd.msg.body.quoted'), rd_key: key.key, rd_schema_id: 'rd.msg.body.quoted', ...quoted });
  const attachments = await run('rd.ext.attachments', email);
  return { key: key.key, rawId, email, body: b!.fields, quoted, links, attachments };
}

/** rd.ext.quoted on a text (as rd.msg.body would carry it). */
async function quote(key: RdKey, text: string): Promise<{ own_text: string; parts: Part[]; has_quote: boolean }> {
  const [q] = await run('rd.ext.quoted', { _id: docIdFor(key, 'rd.msg.body'), rd_key: key, rd_schema_id: 'rd.msg.body', text, text_source: 'plain' });
  return q!.fields as unknown as { own_text: string; parts: Part[]; has_quote: boolean };
}

/** The first `count` files whose bytes match every pattern. */
async function pick(files: string[], count: number, ...patterns: RegExp[]): Promise<Array<{ file: string; bytes: Buffer }>> {
  const out: Array<{ file: string; bytes: Buffer }> = [];
  for (const file of files) {
    if (out.length >= count) break;
    const bytes = await readFile(file);
    const text = bytes.toString('latin1');
    if (patterns.every((p) => p.test(text)) && messageKey(bytes).ok) out.push({ file, bytes });
  }
  return out;
}

const types = (parts: Part[]) => parts.map((p) => p.type);
const k = (id: string): RdKey => ['email', id];

describe('rd.ext.quoted on real replies', () => {
  it('finds ">" blocks and "On … wrote:" attributions in 40 cake replies; own text has neither', async () => {
    const found = await pick(cake, 40, /^On .{4,200} wrote:\r?$/m, /^> ?\S/m, /^Content-Type: text\/plain/im);
    expect(found.length).toBe(40);
    let both = 0;
    for (const { file, bytes } of found) {
      const { quoted } = await cascade(bytes);
      const attribution = quoted.parts.find((p) => p.type === 'attribution');
      // Outlook-style replies (a "From:/Sent:" block, here even in Norwegian) count too.
      if ((attribution && quoted.parts.some((p) => p.type === 'quote')) || quoted.parts.some((p) => p.type === 'original')) both++;
      expect(quoted.has_quote, file).toBe(true);
      expect(quoted.own_text, file).not.toMatch(/^[ \t]*>/m);
      expect(quoted.own_text, file).not.toMatch(/^On .{4,200} wrote:$/m);
      if (attribution) expect(attribution.lang, file).toBe('en');
      // Nothing is lost: every non-blank line of the text is in some part.
      const joined = quoted.parts.map((p) => p.text).join('\n');
      expect(joined.replace(/\s+/g, '').length, file).toBeGreaterThan(0);
    }
    expect(both, 'replies with both an attribution and a quote part').toBeGreaterThanOrEqual(36);
  }, 30_000);

  it('keeps interleaved replies in order: text, quote, text', async () => {
    // A bottom-posted, interleaved reply: own text after the first quote block.
    const found = await pick(openwrt, 10, /^In-Reply-To:/im, /^>.*\r?\n\r?\n[A-Za-z][^\r\n]{20,}\r?\n(?:.*\r?\n)*?>/m, /^Content-Type: text\/plain/im);
    let interleaved = 0;
    for (const { bytes } of found) {
      const { quoted } = await cascade(bytes);
      const t = types(quoted.parts).filter((x) => x === 'text' || x === 'quote');
      if (t.join(',').includes('quote,text,quote')) interleaved++;
    }
    expect(interleaved).toBeGreaterThan(0);
  }, 30_000);

  for (const [lang, pattern] of [
    ['de', /^Am \d.{4,80} schrieb .{1,80}:\r?$/m],
    ['nl', /^Op \S+dag .{4,80} schreef /m],
    ['sv', /^Den .{4,40} skrev .{1,80}:\r?$/m],
    ['cs', /^Dne .{4,60} napsal\(a\):\r?$/m],
  ] as const) {
    it(`finds a real "${lang}" attribution in openwrt-devel`, async () => {
      const found = await pick(openwrt, 3, pattern, /^Content-Type: text\/plain/im);
      expect(found.length).toBeGreaterThan(0);
      for (const { file, bytes } of found) {
        const { quoted } = await cascade(bytes);
        expect(quoted.parts.find((p) => p.type === 'attribution')?.lang, file).toBe(lang);
        expect(quoted.has_quote, file).toBe(true);
      }
    });
  }

  it('finds attributions in hand-made lines for languages absent from the archives', async () => {
    const cases: Array<[string, string]> = [
      ['en', 'On Mon, Jul 1, 2019 at 10:00 AM Ann Example <ann@example.org>\nwrote:'],
      ['fr', 'Le lun. 1 juil. 2019 à 10:00, Ann Example <ann@example.org> a écrit :'],
      ['es', 'El lun., 1 jul. 2019 a las 10:00, Ann Example (<ann@example.org>) escribió:'],
      ['pt', 'Em seg., 1 de jul. de 2019 às 10:00, Ann <ann@example.org> escreveu:'],
      ['it', 'Il giorno lun 1 lug 2019 alle ore 10:00 Ann <ann@example.org> ha scritto:'],
      ['sv', 'Den mån 1 juli 2019 kl 10:00 skrev Ann <ann@example.org>:'],
      ['no', 'man. 1. jul. 2019 kl. 10:00 skrev Ann <ann@example.org>:'],
      ['pl', 'W dniu 01.07.2019 o 10:00, Ann pisze:'],
      ['ru', '1 июля 2019 г., 10:00 пользователь Ann <ann@example.org> написал:'],
      ['ja', '2019年7月1日(月) 10:00 Ann <ann@example.org>:'],
      ['zh', 'Ann <ann@example.org> 于2019年7月1日周一 上午10:00写道：'],
      ['ko', '2019년 7월 1일 (월) 오전 10:00, Ann <ann@example.org>님이 작성:'],
    ];
    for (const [lang, line] of cases) {
      const q = await quote(k(`${lang}@example.org`), `My reply.\n\n${line}\n\n> Her text\n> more\n`);
      expect(types(q.parts), lang).toEqual(['text', 'attribution', 'quote']);
      expect(q.parts[1]!.lang, line).toBe(lang);
      expect(q.parts[2]!.text).toBe('Her text\nmore');
      expect(q.own_text).toBe('My reply.');
    }
    // Top posting without ">": everything after a strong attribution is the quote.
    const top = await quote(k('top@example.org'), 'Yes.\n\nAm 01.07.2019 um 10:00 schrieb Ann:\nHer text, unmarked.\n');
    expect(types(top.parts)).toEqual(['text', 'attribution', 'quote']);
    expect(top.parts[2]!.text).toBe('Her text, unmarked.');
    // A line that merely ends in "wrote:" with no quote after it stays own text.
    const plain = await quote(k('plain@example.org'), 'Here is what he wrote:\nnothing.\n');
    expect(types(plain.parts)).toEqual(['text']);
  });

  it('splits a real Outlook "-----Original Message-----" reply (openwrt-devel)', async () => {
    const found = await pick(openwrt, 3, /^-----Original Message-----\r?$/m, /^Content-Type: text\/plain/im);
    expect(found.length).toBeGreaterThan(0);
    for (const { file, bytes } of found) {
      const { quoted } = await cascade(bytes);
      const original = quoted.parts.find((p) => p.type === 'original');
      expect(original, file).toBeDefined();
      expect(original!.headers?.from, file).toBeTruthy();
      expect(quoted.own_text, file).not.toContain('-----Original Message-----');
    }
  });

  it('splits an Outlook "From: / Sent: / To: / Subject:" block (real and German hand-made)', async () => {
    const found = await pick(openwrt, 3, /\r?\n\r?\nFrom: .+\r?\nSent: .+\r?\nTo: /, /^Content-Type: text\/plain/im);
    expect(found.length).toBeGreaterThan(0);
    for (const { file, bytes } of found) {
      const { quoted } = await cascade(bytes);
      expect(quoted.parts.find((p) => p.type === 'original')?.headers?.date, file).toBeTruthy();
    }
    const q = await quote(k('outlook@example.org'), 'Danke!\n\n________________________________\nVon: Ann <ann@example.org>\nGesendet: Montag, 1. Juli 2019 10:00\nAn: Bob\nBetreff: Test\n\nHallo\n');
    expect(types(q.parts)).toEqual(['text', 'original']);
    expect(q.parts[1]!.headers).toEqual({ from: 'Ann <ann@example.org>', date: 'Montag, 1. Juli 2019 10:00', to: 'Bob', subject: 'Test' });
    expect(q.own_text).toBe('Danke!');
  });

  it('marks real forwarded messages ("---------- Forwarded message ---------")', async () => {
    const found = await pick([...cake, ...openwrt], 3, /^-{6,} Forwarded message -{6,}\r?$/m, /^Content-Type: text\/plain/im);
    expect(found.length).toBeGreaterThan(0);
    for (const { file, bytes } of found) {
      const { quoted } = await cascade(bytes);
      const fwd = quoted.parts.find((p) => p.type === 'forward');
      expect(fwd, file).toBeDefined();
      expect(fwd!.headers?.from, file).toBeTruthy();
      expect(quoted.own_text, file).not.toMatch(/Forwarded message/);
    }
    const apple = await quote(k('apple@example.org'), 'FYI\n\nBegin forwarded message:\n\nFrom: Ann <ann@example.org>\nSubject: Hi\n\nBody\n');
    expect(types(apple.parts)).toEqual(['text', 'forward']);
    expect(apple.parts[1]!.headers).toEqual({ from: 'Ann <ann@example.org>', subject: 'Hi' });
  });

  it('separates signatures ("-- ") and the mailing-list footer of real openwrt-devel mail', async () => {
    const found = await pick(openwrt, 5, /^-- \r?$/m, /^_{20,}\r?\nopenwrt-devel mailing list/m, /^Content-Type: text\/plain/im);
    expect(found.length).toBe(5);
    for (const { file, bytes } of found) {
      const { quoted } = await cascade(bytes);
      expect(types(quoted.parts), file).toContain('signature');
      expect(quoted.parts.at(-1)!.type, file).toBe('footer');
      expect(quoted.own_text, file).not.toMatch(/mailing list|listinfo/);
    }
  });
});

describe('rd.ext.links', () => {
  it('emits links of the own text only, with host and domain, one item per distinct URL', async () => {
    const text = [
      'See https://www.example.org/a and www.example.com/b, again https://www.example.org/a.',
      'Files README.md and setup.py are not links; mail ann@example.org is not one either.',
      '',
      'On Mon, 1 Jul 2019, Ann wrote:',
      '> https://quoted.example.net/only-quoted',
      '',
      '-- ',
      'Bob https://signature.example.net/',
    ].join('\n');
    const key = k('links@example.org');
    const q = await quote(key, text);
    const links = await run('rd.ext.links', { _id: docIdFor(key, 'rd.msg.body.quoted'), rd_key: key, rd_schema_id: 'rd.msg.body.quoted', ...q });
    expect(links.map((l) => [l.key, l.fields.url, l.fields.domain, l.fields.count])).toEqual([
      [['link', ['links@example.org', 'https://www.example.org/a']], 'https://www.example.org/a', 'example.org', 2],
      [['link', ['links@example.org', 'http://www.example.com/b']], 'http://www.example.com/b', 'example.com', 1],
    ]);
  });

  it('never takes links from quotes or list footers of 60 real openwrt-devel replies', async () => {
    const found = await pick(openwrt, 60, /^In-Reply-To:/im, /^>.*https?:\/\//m, /^Content-Type: text\/plain/im);
    expect(found.length).toBe(60);
    let withLinks = 0;
    let quotedOnly = 0;
    for (const { file, bytes } of found) {
      const { quoted, links } = await cascade(bytes);
      if (links.length > 0) withLinks++;
      for (const l of links) {
        expect(quoted.own_text, file).toContain(l.fields.text as string);
        expect(l.fields.url, file).not.toMatch(/lists\.openwrt\.org\/mailman\/listinfo/);
      }
      // A URL that appears only in quoted lines is never emitted.
      const quotedUrls = quoted.parts.filter((p) => p.type === 'quote').flatMap((p) => p.text.match(/https?:\/\/[^\s<>")]+/g) ?? []);
      for (const u of quotedUrls) {
        if (quoted.own_text.includes(u)) continue;
        quotedOnly++;
        expect(links.map((l) => l.fields.url), file).not.toContain(u);
      }
    }
    expect(quotedOnly, 'quoted-only URLs checked').toBeGreaterThan(30);
    expect(withLinks, 'replies with links in their own text').toBeGreaterThan(0);
  }, 30_000);
});

describe('rd.ext.attachments', () => {
  it('lists the attached patches of 25 real openwrt-devel messages, with a reference into the raw message', async () => {
    // Attached files, not just signature.asc (which is not an attachment, see below).
    const found = await pick(openwrt, 25, /^Content-Disposition: attachment;\s*filename="?[\w.-]+\.(?:patch|diff|txt|log|gz|xz|bz2|zip|config|dts|png|jpg|pdf)"?/im);
    expect(found.length).toBe(25);
    let sized = 0;
    for (const { file, bytes } of found) {
      const { key, rawId, email, attachments } = await cascade(bytes);
      const files = attachments.filter((e) => e.schemaId === 'rd.attach.file');
      const summary = attachments.find((e) => e.schemaId === 'rd.msg.attachment-summary');
      expect(files.length, file).toBeGreaterThan(0);
      expect(summary?.key, file).toEqual(key);
      const parts = email.parts as Array<{ part_id: string; size?: number; filename?: string; content_type: string }>;
      for (const f of files) {
        const part = parts.find((p) => p.part_id === f.fields.part_id)!;
        expect(part, file).toBeDefined();
        expect(f.key, file).toEqual(['attach', [key[1], part.part_id]]);
        expect(f.fields.raw, file).toEqual({ doc_id: rawId, attachment: 'rd.fetch/rfc822', part_id: part.part_id });
        expect(f.fields.content_type).toBe(part.content_type);
        expect(f.fields.size).toBe(part.size ?? null);
        if (typeof f.fields.size === 'number' && f.fields.size > 0) sized++;
        expect(f.fields.content_type).not.toBe('application/pgp-signature');
        if (part.filename) {
          expect(f.fields.name).toBe(part.filename);
          // The name is really in the raw message (possibly RFC 2231/2047 encoded, so only ASCII names).
          if (/^[\w.-]+$/.test(part.filename)) expect(bytes.toString('latin1'), file).toContain(part.filename);
        }
      }
      expect(summary!.fields.count).toBe(files.length);
      expect(summary!.fields.total_size).toBe(files.reduce((a, f) => a + ((f.fields.size as number | null) ?? 0), 0));
      expect(summary!.fields.names).toEqual(files.map((f) => f.fields.name));
    }
    expect(sized).toBeGreaterThanOrEqual(25);
  }, 30_000);

  it('does not count PGP signatures or body parts: a real signed openwrt-devel message has no attachments', async () => {
    const found = await pick(openwrt, 3, /^Content-Type: multipart\/signed/im, /application\/pgp-signature/i);
    expect(found.length).toBeGreaterThan(0);
    let none = 0;
    for (const { bytes } of found) {
      const { email, attachments } = await cascade(bytes);
      const leafs = (email.parts as Array<{ content_type: string; body?: boolean }>).filter((p) => !p.content_type.startsWith('multipart/') && !p.body && p.content_type !== 'application/pgp-signature');
      if (leafs.length === 0) {
        none++;
        expect(attachments).toEqual([]);
      }
    }
    expect(none).toBeGreaterThan(0);
  });

  it('looks through an inline message/rfc822 (real Mailman DMARC wrappers) to the attachments inside it', async () => {
    const found = await pick(openwrt, 3, /^Content-Type: message\/rfc822\r?\n(?:MIME-Version: 1.0\r?\n)?Content-Disposition: inline/im, /^Content-Disposition: attachment;\s*filename="?[\w.-]+\.(?:patch|diff)"?/im);
    expect(found.length).toBeGreaterThan(0);
    for (const { file, bytes } of found) {
      const { attachments } = await cascade(bytes);
      const files = attachments.filter((e) => e.schemaId === 'rd.attach.file');
      expect(files.map((f) => f.fields.content_type), file).not.toContain('message/rfc822');
      expect(files.some((f) => /\.(?:patch|diff)$/.test(f.fields.name as string)), file).toBe(true);
    }
  });

  it('lists an attached message/rfc822 as one attachment, not its inner parts (hand-made)', async () => {
    const raw = Buffer.from([
      'From: a@example.org', 'To: b@example.org', 'Subject: fwd', 'Message-ID: <fwd-att@example.org>', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'See attached.', '--b1',
      'Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="old.eml"', '',
      'From: c@example.org', 'Subject: old', 'Message-ID: <old@example.org>', 'Content-Type: multipart/mixed; boundary="b2"', '',
      '--b2', 'Content-Type: text/plain', '', 'old text', '--b2', 'Content-Type: application/octet-stream', 'Content-Disposition: attachment; filename="inner.bin"', 'Content-Transfer-Encoding: base64', '', 'AAECAw==', '--b2--', '',
      '--b1', 'Content-Type: image/png; name="x.png"', 'Content-Disposition: attachment; filename="x.png"', 'Content-Transfer-Encoding: base64', '', 'iVBORw0KGgo=', '--b1--', '',
    ].join('\r\n'));
    const { attachments, key } = await cascade(raw);
    const files = attachments.filter((e) => e.schemaId === 'rd.attach.file');
    expect(files.map((f) => [f.fields.part_id, f.fields.name, f.fields.content_type])).toEqual([
      ['2', 'old.eml', 'message/rfc822'],
      ['3', 'x.png', 'image/png'],
    ]);
    expect(files[1]!.fields.size).toBe(8);
    const summary = attachments.find((e) => e.schemaId === 'rd.msg.attachment-summary')!;
    expect(summary.key).toEqual(key);
    expect(summary.fields).toMatchObject({ count: 2, names: ['old.eml', 'x.png'], content_types: ['message/rfc822', 'image/png'], part_ids: ['2', '3'] });
  });
});
