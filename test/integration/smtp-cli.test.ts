/**
 * The sending commands as a user runs them (compiled CLI in a child process) against a
 * real smtp-server (AUTH over STARTTLS) and Dovecot: `account add` with SMTP settings,
 * `account test` (and a wrong SMTP password: exit 12, the secret in no output), `send`
 * with a body file, an attachment and --reply-to, `outbox` listing, `outbox cancel` of a
 * retrying message, `outbox retry` of a failed one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { type Dovecot, startDovecot } from '../helpers/dovecot.js';
import { prepareOutgoingDb } from '../helpers/outgoing.js';
import { runQueueOnce } from '../helpers/queue.js';
import { runCli } from '../helpers/run-cli.js';
import { type TestSmtp, startTestSmtp } from '../helpers/smtp-server.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('smtp_cli');
const me = 'ann@example.org';
let dovecot: Dovecot;
let smtp: TestSmtp;
let registry: SchemaRegistry;
let home: string;
let configFile: string;

function args(...rest: string[]): string[] {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return [...rest, '--couch', url.toString(), '--db', t.db.name, '--config', configFile];
}

beforeAll(async () => {
  dovecot = await startDovecot();
  smtp = await startTestSmtp();
  registry = await prepareOutgoingDb(t.db, me, ['email.js', 'outgoing.js']);
  home = await mkdtemp(join(tmpdir(), 'raindrop-smtp-cli-'));
  configFile = join(home, 'config.json');
}, 120_000);

afterAll(async () => {
  await registry?.close();
  await smtp?.close();
  await dovecot?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('raindrop send and outbox', () => {
  it('account add takes SMTP settings; account test logs in to SMTP too', async () => {
    const env = { IMAP_PW: dovecot.password, SMTP_PW: smtp.password };
    const add = await runCli(args('account', 'add', 'test', '--imap-host', dovecot.host, '--imap-port', String(dovecot.port), '--tls', 'none', '--user', dovecot.user, '--password-env', 'IMAP_PW', '--identities', me,
      '--smtp-host', smtp.host, '--smtp-port', String(smtp.port), '--smtp-tls', 'starttls', '--smtp-user', smtp.user, '--smtp-password-env', 'SMTP_PW', '--smtp-ca-file', smtp.caFile), env);
    expect(add.code, add.stderr).toBe(0);
    const test = await runCli(args('account', 'test', 'test', '--json'), env);
    expect(test.code, test.stderr).toBe(0);
    expect(JSON.parse(test.stdout).smtp).toMatchObject({ host: smtp.host, port: smtp.port, tls: 'starttls' });

    const wrong = `not-${randomBytes(6).toString('hex')}`;
    const bad = await runCli(args('account', 'test', 'test', '--json'), { ...env, SMTP_PW: wrong });
    expect(bad.code).toBe(12);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: 'MAIL_AUTH' });
    expect(bad.stdout + bad.stderr).toMatch(/refused the login/);
    expect(bad.stdout + bad.stderr).not.toContain(wrong);
  }, 240_000);

  it('send: a reply with a body file and an attachment, sent at once and listed as sent', async () => {
    const parentId = `parent.${randomBytes(4).toString('hex')}@example.net`;
    await storeRawMessages(registry, t.db, [{ bytes: Buffer.from(`Message-ID: <${parentId}>\r\nFrom: Bob <bob@example.net>\r\nTo: ${me}\r\nSubject: Lunch?\r\nDate: Mon, 2 Nov 2026 09:00:00 +0000\r\n\r\nLunch at noon?\r\n`), receivedFrom: 'import:test' }]);
    await runQueueOnce(t.db, registry, 1);
    const body = join(home, 'body.txt');
    const file = join(home, 'menu.pdf');
    const bytes = randomBytes(50_000);
    await writeFile(body, 'Yes, noon is good.\n');
    await writeFile(file, bytes);
    const env = { IMAP_PW: dovecot.password, SMTP_PW: smtp.password };
    const sent = await runCli(args('send', '--to', 'Bob <bob@example.net>', '--reply-to', `<${parentId}>`, '--body', body, '--attach', file, '--json'), env);
    expect(sent.code, sent.stdout + sent.stderr).toBe(0);
    const out = JSON.parse(sent.stdout) as { message_id: string; state: string };
    expect(out.state).toBe('sent');
    const got = smtp.received.find((m) => m.messageId === out.message_id);
    const parsed = await simpleParser(got!.bytes);
    expect(parsed.subject).toBe('Re: Lunch?');
    expect(parsed.inReplyTo).toBe(`<${parentId}>`);
    expect(parsed.attachments[0]?.filename).toBe('menu.pdf');
    expect(Buffer.compare(parsed.attachments[0]!.content, bytes)).toBe(0);

    const list = await runCli(args('outbox', '--json'), env);
    expect(list.code, list.stdout + list.stderr).toBe(0);
    const messages = (JSON.parse(list.stdout) as { messages: Array<{ messageId: string; state: string }> }).messages;
    expect(messages.find((m) => m.messageId === out.message_id)?.state).toBe('sent');
    expect(list.stdout + list.stderr).not.toContain(smtp.password);
  }, 240_000);

  it('cancel turns a retrying message into a draft; retry sends a failed one again on the user\'s word', async () => {
    const env = { IMAP_PW: dovecot.password, SMTP_PW: smtp.password };
    smtp.failNextData(451, '4.3.0 Try later');
    const first = await runCli(args('send', '--to', 'carol@example.net', '--subject', 'later', '--body', '/dev/null', '--json'), env);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const retrying = JSON.parse(first.stdout) as { message_id: string; state: string };
    expect(retrying.state).toBe('retrying');
    const cancel = await runCli(args('outbox', 'cancel', retrying.message_id, '--json'), env);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ cancelled: true, state: 'draft' });
    await runCli(args('outbox', 'flush'), env);
    expect(smtp.count(retrying.message_id)).toBe(0);

    smtp.failNextData(554, '5.6.0 Content refused');
    const second = await runCli(args('send', '--to', 'dave@example.net', '--subject', 'refused', '--body', '/dev/null', '--json'), env);
    expect(second.code).toBe(1);
    const failed = JSON.parse(second.stdout) as { message_id: string; state: string; error: string };
    expect(failed).toMatchObject({ state: 'failed' });
    expect(failed.error).toMatch(/5\.6\.0 Content refused/);
    const refusedRetry = await runCli(args('outbox', 'cancel', failed.message_id), env);
    expect(refusedRetry.code).toBe(2);
    const retry = await runCli(args('outbox', 'retry', failed.message_id, '--json'), env);
    expect(retry.code, retry.stderr).toBe(0);
    const flush = await runCli(args('outbox', 'flush', '--json'), env);
    expect(JSON.parse(flush.stdout)).toMatchObject({ sent: 1 });
    expect(smtp.count(failed.message_id)).toBe(1);
  }, 240_000);

  it('refuses bad input with a clear message and writes nothing', async () => {
    const env = { IMAP_PW: dovecot.password, SMTP_PW: smtp.password };
    const count = async () => (JSON.parse((await runCli(args('outbox', '--json'), env)).stdout) as { messages: unknown[] }).messages.length;
    const before = await count();
    const bad = await runCli(args('send', '--to', 'not an address', '--body', '/dev/null'), env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not an e-mail address/);
    const none = await runCli(args('send', '--subject', 'x', '--body', '/dev/null'), env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no recipient/);
    const big = join(home, 'big.bin');
    await writeFile(big, Buffer.alloc(26 * 1024 * 1024));
    const tooBig = await runCli(args('send', '--to', 'bob@example.net', '--attach', big, '--body', '/dev/null'), env);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toMatch(/more than 25 MB/);
    expect(await count()).toBe(before);
  }, 240_000);
});
