/**
 * The sender under the faults a real SMTP server (smtp-server, AUTH over STARTTLS) and a
 * network produce: 451 twice then 250 (retried, sent once), 550 (failed with the
 * server's words, never retried), the connection cut in the middle of DATA (retried,
 * sent once), the reply lost after the server took the message (unknown: not sent again
 * until the user asks), a wrong password (failed; the secret in no output), and two
 * senders at once (each message once). The sent copy is stored, not filed over IMAP
 * (saveSent false): smtp-send.test.ts covers Dovecot.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountSettings } from '../../src/config/index.js';
import { createLogger, docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { Sender } from '../../src/protocols/smtp/sender.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { prepareOutgoingDb, senderState, testAccount, writeOutgoing } from '../helpers/outgoing.js';
import { runQueueOnce } from '../helpers/queue.js';
import { type TestSmtp, startTestSmtp } from '../helpers/smtp-server.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('smtp_faults');
const me = 'ann@example.org';
let smtp: TestSmtp;
let registry: SchemaRegistry;
let account: AccountSettings;
const logs: string[] = [];
const logger = createLogger({ level: 'debug', sink: (line) => logs.push(line) });
/** Retries within milliseconds, so a test sees the whole sequence. */
const limits = { retryFirstMs: 20, retryMaxMs: 80, maxAttempts: 4 };

const newId = (what: string) => `${what}.${randomBytes(4).toString('hex')}@example.org`;

/** The queue, then sender passes until nothing is waiting for a retry. */
async function sendUntilSettled(accounts: Record<string, AccountSettings> = { test: account }): Promise<void> {
  await runQueueOnce(t.db, registry, 1);
  const sender = new Sender({ registry, db: t.db, accounts, logger, limits });
  try {
    for (let i = 0; i < 20; i++) {
      const report = await sender.runOnce();
      if (report.wakeAt === undefined) return;
      await new Promise((r) => setTimeout(r, Math.max(0, report.wakeAt! - Date.now())));
    }
    throw new Error('the sender did not settle');
  } finally {
    await sender.close();
  }
}

beforeAll(async () => {
  smtp = await startTestSmtp();
  registry = await prepareOutgoingDb(t.db, me, ['outgoing.js']);
  account = testAccount({ host: '127.0.0.1', port: 1, user: 'unused', password: 'unused' }, smtp, me, { saveSent: false });
});

afterAll(async () => {
  await registry?.close();
  await smtp?.close();
});

describe('SMTP faults', () => {
  it('451 twice, then accepted: retried and sent once', async () => {
    const id = newId('451');
    await writeOutgoing(registry, t.db, id, me);
    smtp.failNextData(451, '4.7.1 Greylisted, try again later', 2);
    await sendUntilSettled();
    const state = await senderState(t.db, id);
    expect(state?.state).toBe('sent');
    expect(state?.attempts.map((a) => a.outcome)).toEqual(['retry', 'retry', 'sent']);
    expect(state?.attempts[0]?.response_code).toBe(451);
    expect(state?.attempts[0]?.error).toMatch(/Greylisted/);
    expect(smtp.count(id)).toBe(1);
    expect(state?.sent_copy?.stored).toBe(true);
  });

  it('550: failed with the server\'s words and not retried', async () => {
    const id = newId('550');
    await writeOutgoing(registry, t.db, id, me);
    smtp.failNextData(550, '5.7.1 Message refused: it looks like spam');
    await sendUntilSettled();
    await sendUntilSettled();
    const state = await senderState(t.db, id);
    expect(state?.state).toBe('failed');
    expect(state?.error).toMatch(/5\.7\.1 Message refused: it looks like spam/);
    expect(state?.attempts).toHaveLength(1);
    expect(smtp.count(id)).toBe(0);
  });

  it('a refused recipient (550 at RCPT) fails the message with the server\'s words', async () => {
    const id = newId('rcpt');
    await writeOutgoing(registry, t.db, id, me, { to: [{ address: 'nobody@example.net' }] });
    smtp.failNextRcpt(550, '5.1.1 No such user here');
    await sendUntilSettled();
    const state = await senderState(t.db, id);
    expect(state?.state).toBe('failed');
    expect(state?.error).toMatch(/No such user here/);
    expect(smtp.count(id)).toBe(0);
  });

  it('the connection cut in the middle of DATA: retried, sent once', async () => {
    const id = newId('cut');
    const partialBefore = smtp.partialData;
    await writeOutgoing(registry, t.db, id, me, { files: [{ name: 'a', filename: 'a.bin', contentType: 'application/octet-stream', data: randomBytes(400 * 1024) }] });
    smtp.cutNextData(150_000);
    await sendUntilSettled();
    const state = await senderState(t.db, id);
    expect(state?.attempts.map((a) => a.outcome)).toEqual(['retry', 'sent']);
    expect(state?.state).toBe('sent');
    expect(smtp.partialData).toBeGreaterThan(partialBefore);
    expect(smtp.count(id)).toBe(1);
  });

  it('the reply lost after the server took the message: unknown, not sent again until the user asks', async () => {
    const id = newId('lost');
    await writeOutgoing(registry, t.db, id, me);
    smtp.loseNextReply();
    await sendUntilSettled();
    await sendUntilSettled();
    let state = await senderState(t.db, id);
    expect(state?.state).toBe('unknown');
    expect(state?.attempts.map((a) => a.outcome)).toEqual(['unknown']);
    expect(smtp.count(id)).toBe(1);
    // The user's word: send_request 2 (what `raindrop outbox retry` writes).
    await writeOutgoing(registry, t.db, id, me, { send_request: 2 });
    await sendUntilSettled();
    state = await senderState(t.db, id);
    expect(state?.state).toBe('sent');
    expect(state?.send_request).toBe(2);
    expect(smtp.count(id)).toBe(2);
  });

  it('a wrong password: failed, and the secret is in no output', async () => {
    const id = newId('auth');
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    await writeOutgoing(registry, t.db, id, me);
    const before = logs.length;
    await sendUntilSettled({ test: { ...account, smtp: { ...account.smtp!, password: wrong } } });
    const state = await senderState(t.db, id);
    expect(state?.state).toBe('failed');
    expect(state?.error).toMatch(/refused the login/);
    const stored = JSON.stringify(await getDoc(t.db, docIdFor(['email', id], 'rd.msg.outgoing.state')));
    const logged = logs.slice(before).join('\n');
    expect(logged).toMatch(/sending failed/);
    for (const text of [stored, logged]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(smtp.password);
    }
    expect(smtp.count(id)).toBe(0);
  });

  it('two senders at once send each message once', async () => {
    const ids = Array.from({ length: 8 }, () => newId('pair'));
    for (const id of ids) await writeOutgoing(registry, t.db, id, me);
    await runQueueOnce(t.db, registry, 1);
    smtp.dataDelayMs = 30;
    const a = new Sender({ registry, db: t.db, accounts: { test: account }, logger, limits });
    const b = new Sender({ registry, db: t.db, accounts: { test: account }, logger, limits });
    try {
      await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
    } finally {
      smtp.dataDelayMs = 0;
      await a.close();
      await b.close();
    }
    for (const id of ids) {
      expect(smtp.count(id)).toBe(1);
      expect((await senderState(t.db, id))?.state).toBe('sent');
    }
  });
});
