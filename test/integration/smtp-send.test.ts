/**
 * Sending mail end to end with real servers: rd.msg.outgoing written as the web app does,
 * rd.ext.outgoing in the real queue, the sender through nodemailer's SMTP transport to a
 * real smtp-server (AUTH over STARTTLS on a certificate made for the run), the sent copy
 * appended to a real Dovecot's Sent folder and stored as a raw message that joins its
 * conversation. Replies and forwards use real SpamAssassin ham messages.
 */
import { randomBytes, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor, silentLogger, type RdKey } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { AccountSettings } from '../../src/config/index.js';
import { syncAccount } from '../../src/protocols/imap/sync-account.js';
import { Sender } from '../../src/protocols/smtp/sender.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { spamAssassinDir } from '../helpers/corpus.js';
import { type Dovecot, startDovecot, withImapClient } from '../helpers/dovecot.js';
import { prepareOutgoingDb, senderState, testAccount, writeOutgoing } from '../helpers/outgoing.js';
import { runQueueOnce } from '../helpers/queue.js';
import { type TestSmtp, startTestSmtp } from '../helpers/smtp-server.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('smtp_send');
const me = 'ann@example.org';
let dovecot: Dovecot;
let smtp: TestSmtp;
let registry: SchemaRegistry;
let account: AccountSettings;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const doc = (key: RdKey, schema: string) => getDoc(t.db, docIdFor(key, schema));

/** The queue (rd.ext.outgoing), then one sender pass. */
async function sendAll(): Promise<void> {
  await runQueueOnce(t.db, registry, 1);
  const sender = new Sender({ registry, db: t.db, accounts: { test: account }, logger: silentLogger });
  try {
    await sender.runOnce();
  } finally {
    await sender.close();
  }
}

const lastReceived = (id: string) => {
  const r = smtp.received.filter((m) => m.messageId === id);
  expect(r).toHaveLength(1);
  return r[0]!;
};

const sentFolderIds = () => withImapClient(dovecot, async (c) => {
  const lock = await c.getMailboxLock('Sent');
  try {
    const ids: string[] = [];
    for await (const m of c.fetch('1:*', { envelope: true })) if (m.envelope?.messageId) ids.push(m.envelope.messageId);
    return ids;
  } finally {
    lock.release();
  }
}).catch(() => [] as string[]);

const ham = (name: string) => readFile(join(spamAssassinDir, 'easy-ham-1', name));

beforeAll(async () => {
  dovecot = await startDovecot();
  smtp = await startTestSmtp();
  registry = await prepareOutgoingDb(t.db, me);
  account = testAccount(dovecot, smtp, me);
});

afterAll(async () => {
  await registry?.close();
  await smtp?.close();
  await dovecot?.close();
});

describe('sending', () => {
  it('sends a new message once, files it in Sent and stores it as a raw message in the sent grouping', async () => {
    const id = `new.${randomBytes(4).toString('hex')}@example.org`;
    await writeOutgoing(registry, t.db, id, me, { from: { name: 'Ann Example', address: me }, to: [{ name: 'Bob', address: 'bob@example.net' }], cc: [{ address: 'carol@example.net' }], bcc: [{ address: 'dave@example.net' }], subject: 'Plans', text: 'See you at ten.\n' });
    await sendAll();
    const state = await senderState(t.db, id);
    expect(state?.state).toBe('sent');
    expect(state?.response).toMatch(/^250 /);
    expect(state?.attempts.map((a) => a.outcome)).toEqual(['sent']);
    expect(state?.sent_copy).toEqual({ stored: true, folder: 'Sent' });

    const got = lastReceived(id);
    expect(got.user).toBe(smtp.user);
    expect(got.from).toBe(me);
    expect(got.to.sort()).toEqual(['bob@example.net', 'carol@example.net', 'dave@example.net']);
    const parsed = await simpleParser(got.bytes);
    expect(parsed.from?.value[0]).toMatchObject({ name: 'Ann Example', address: me });
    expect(parsed.messageId).toBe(`<${id}>`);
    expect(parsed.date?.toISOString()).toBe('2026-11-02T10:00:00.000Z');
    expect(parsed.subject).toBe('Plans');
    expect(parsed.text?.trim()).toBe('See you at ten.');
    // Bcc is in the envelope only.
    expect(got.bytes.toString('latin1')).not.toMatch(/dave@example\.net/);
    expect(state?.sha256).toBe(sha(got.bytes));

    // The sent copy: the exact bytes, as a raw message and in the Sent folder.
    const raw = await doc(['email', id], 'rd.msg.rfc822');
    expect(raw?.received_from).toBe('smtp:test');
    expect(raw?.sha256).toBe(state?.sha256);
    expect(await sentFolderIds()).toContain(`<${id}>`);

    // Processing again, a second sender: nothing more is sent.
    await sendAll();
    await sendAll();
    expect(smtp.count(id)).toBe(1);

    await runQueueOnce(t.db, registry, 1);
    const tag = await doc(['email', id], 'rd.msg.grouping-tag');
    expect(tag?.grouping_id).toBe('sent');
  });

  it('sends a reply to a real message that continues its thread and joins its conversation after sync', async () => {
    const original = await ham('00001.7c53336b37003a9286aba55d2945844c.txt');
    const [stored] = await storeRawMessages(registry, t.db, [{ bytes: original, receivedFrom: 'import:test' }]);
    if (!stored || stored.outcome === 'refused') throw new Error('corpus message refused');
    await runQueueOnce(t.db, registry, 1);
    const parent = await doc(stored.key, 'rd.msg.email');
    const parentId = String(stored.key[1]);
    const parentRefs = (parent?.references ?? []) as string[];
    expect(parentRefs.length).toBeGreaterThan(0);

    const id = `reply.${randomBytes(4).toString('hex')}@example.org`;
    await writeOutgoing(registry, t.db, id, me, { subject: `Re: ${String(parent?.subject)}`, in_reply_to: ['email', parentId], text: 'Agreed.\n' });
    await sendAll();
    expect((await senderState(t.db, id))?.state).toBe('sent');
    const parsed = await simpleParser(lastReceived(id).bytes);
    expect(parsed.inReplyTo).toBe(`<${parentId}>`);
    const refs = (Array.isArray(parsed.references) ? parsed.references : [parsed.references]).map((r) => String(r).replace(/[<>]/g, ''));
    expect(refs).toEqual([...parentRefs.filter((r) => r !== parentId), parentId]);

    // A sync of the Sent folder sees the same Message-ID: a duplicate, not a second copy.
    const summary = await syncAccount({ registry, db: t.db, account, logger: silentLogger, folders: ['Sent'] });
    expect(summary.result).toBe('ok');
    const rawView = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.msg.rfc822', reduce: false })) as unknown as { rows: Array<{ id: string }> };
    expect(rawView.rows.filter((r) => r.id === docIdFor(['email', id], 'rd.msg.rfc822'))).toHaveLength(1);
    const location = await doc(['email', id], 'rd.msg.location');
    expect(JSON.stringify(location?.locations)).toContain('"folder":"Sent"');

    await runQueueOnce(t.db, registry, 1);
    const replyConv = await doc(['email', id], 'rd.msg.conversation');
    const parentConv = await doc(stored.key, 'rd.msg.conversation');
    expect(replyConv?.conversation_id).toBeDefined();
    expect(replyConv?.conversation_id).toEqual(parentConv?.conversation_id);
    expect(replyConv?.parent_id).toBe(parentId);
  });

  it('forwards a real message with an attachment: the bytes arrive unchanged', async () => {
    const original = await ham('00005.bf27cdeaf0b8c4647ecd61b1d09da613.txt');
    const [stored] = await storeRawMessages(registry, t.db, [{ bytes: original, receivedFrom: 'import:test' }]);
    if (!stored || stored.outcome === 'refused') throw new Error('corpus message refused');
    await runQueueOnce(t.db, registry, 1);
    const file = randomBytes(300 * 1024);
    const id = `fwd.${randomBytes(4).toString('hex')}@example.org`;
    await writeOutgoing(registry, t.db, id, me, { subject: 'Fwd: see below', forward_of: ['email', String(stored.key[1])], files: [{ name: 'a1', filename: 'data.bin', contentType: 'application/octet-stream', data: file }] });
    await sendAll();
    expect((await senderState(t.db, id))?.state).toBe('sent');
    const parsed = await simpleParser(lastReceived(id).bytes);
    const bin = parsed.attachments.find((a) => a.filename === 'data.bin');
    expect(bin && sha(bin.content)).toBe(sha(file));
    const forwarded = parsed.attachments.find((a) => a.contentType === 'message/rfc822');
    // The forwarded message as stored, line ends as SMTP carries them (CRLF; the corpus
    // file has LF); every other byte equal.
    const storedBytes = (await t.db.scope.attachment.get(docIdFor(stored.key, 'rd.msg.rfc822'), 'rd.fetch/rfc822')) as Buffer;
    const crlf = Buffer.from(storedBytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    expect(forwarded && sha(forwarded.content)).toBe(sha(crlf));
  });

  it('encodes Unicode names and subjects correctly', async () => {
    const id = `uni.${randomBytes(4).toString('hex')}@example.org`;
    const subject = 'Привет, 世界 — ça va? 🎉 a long subject that must be folded over several encoded words to fit';
    await writeOutgoing(registry, t.db, id, me, { from: { name: 'Zoë Ångström', address: me }, to: [{ name: '山田 太郎', address: 'taro@example.jp' }, { name: 'O\'Brien, Seán', address: 'sean@example.ie' }], subject, text: 'Grüße — 你好 — مرحبا\n' });
    await sendAll();
    const got = lastReceived(id);
    const head = got.bytes.subarray(0, got.bytes.indexOf('\r\n\r\n'));
    expect([...head].every((b) => b < 0x80)).toBe(true);
    const parsed = await simpleParser(got.bytes);
    expect(parsed.subject).toBe(subject);
    expect(parsed.from?.value[0]).toMatchObject({ name: 'Zoë Ångström', address: me });
    const to = Array.isArray(parsed.to) ? parsed.to.flatMap((a) => a.value) : parsed.to?.value ?? [];
    expect(to.map((a) => [a.name, a.address])).toEqual([['山田 太郎', 'taro@example.jp'], ['O\'Brien, Seán', 'sean@example.ie']]);
    expect(parsed.text?.trim()).toBe('Grüße — 你好 — مرحبا');
  });

  it('sends a 20 MB attachment', async () => {
    const file = randomBytes(20 * 1024 * 1024);
    const id = `big.${randomBytes(4).toString('hex')}@example.org`;
    await writeOutgoing(registry, t.db, id, me, { files: [{ name: 'big', filename: 'big.bin', contentType: 'application/octet-stream', data: file }] });
    await sendAll();
    const state = await senderState(t.db, id);
    expect(state?.state).toBe('sent');
    const parsed = await simpleParser(lastReceived(id).bytes);
    expect(sha(parsed.attachments[0]!.content)).toBe(sha(file));
    expect(state?.sent_copy?.stored).toBe(true);
  }, 180_000);

  it('refuses a message without recipients with a clear error and sends nothing', async () => {
    const id = `norcpt.${randomBytes(4).toString('hex')}@example.org`;
    await writeOutgoing(registry, t.db, id, me, { to: [] });
    await sendAll();
    expect(await senderState(t.db, id)).toBeUndefined();
    const error = await doc(['email', id], 'rd.core.error');
    expect(String(error?.message)).toMatch(/no recipient/);
    expect(smtp.count(id)).toBe(0);
  });
});
