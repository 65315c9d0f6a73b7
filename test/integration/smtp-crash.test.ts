/**
 * `raindrop outbox flush` killed with SIGKILL at random points while it sends 50
 * messages through a real SMTP server (smtp-server, AUTH over STARTTLS), then run to the
 * end: every message was delivered exactly once (state 'sent') or is shown 'unknown'
 * (an attempt began and its outcome was never recorded), and the SMTP server's own count
 * per Message-ID proves that nothing was delivered twice.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { prepareOutgoingDb, senderState, writeOutgoing } from '../helpers/outgoing.js';
import { runQueueOnce } from '../helpers/queue.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { type TestSmtp, startTestSmtp } from '../helpers/smtp-server.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('smtp_kill');
const me = 'ann@example.org';
const messages = 50;
const kills = 14;
const seed = Number(process.env.RAINDROP_KILL_SEED ?? Date.now() % 100_000);
let smtp: TestSmtp;
let registry: SchemaRegistry;
let home: string;
let configFile: string;
const ids = Array.from({ length: messages }, (_, i) => `kill-${String(i).padStart(2, '0')}.${seed}@example.org`);

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated. */
function random(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function couchArgs(): string[] {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return ['--couch', url.toString(), '--db', t.db.name, '--config', configFile];
}

beforeAll(async () => {
  smtp = await startTestSmtp();
  // A little time per DATA, so kills land inside SMTP transactions too.
  smtp.dataDelayMs = 25;
  registry = await prepareOutgoingDb(t.db, me, ['outgoing.js']);
  for (const id of ids) await writeOutgoing(registry, t.db, id, me, { subject: `message ${id}` });
  await runQueueOnce(t.db, registry, 1);
  home = await mkdtemp(join(tmpdir(), 'raindrop-smtp-kill-'));
  configFile = join(home, 'config.json');
  await writeFile(configFile, JSON.stringify({
    accounts: { test: { protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'unused', password: 'unused', identities: [me], smtp: { host: smtp.host, port: smtp.port, tls: 'starttls', user: smtp.user, password: smtp.password, caFile: smtp.caFile, saveSent: false } } },
  }), { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await registry?.close();
  await smtp?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('raindrop outbox flush killed at random points', () => {
  it(`sends each of ${messages} messages exactly once or shows it unknown (${kills} kills with SIGKILL, seed in the log)`, async () => {
    const rand = random(seed);
    const points: string[] = [];
    let finishedFirst = 0;
    for (let k = 0; k < kills; k++) {
      const child = startCli(['outbox', 'flush', ...couchArgs()], {});
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let finished = false;
      void exited.then(() => (finished = true));
      const sleep = (ms: number) => Promise.race([exited, new Promise((r) => setTimeout(r, ms))]);
      const before = smtp.received.length;
      // A third at a random time from the start (start-up, the queue, the first
      // attempts; no later, or one run sends most of the outbox and too few kills
      // are left to land inside a send), a third a random moment after a delivery, a third right after the
      // server accepted a random number more (between its 250 and the "sent" record).
      if (k % 3 === 0) {
        const ms = 300 + Math.floor(rand() * 1700);
        await sleep(ms);
        points.push(`${ms} ms`);
      } else if (k % 3 === 1) {
        const ms = Math.floor(rand() * 60);
        while (!finished && smtp.received.length === before) await sleep(5);
        await sleep(ms);
        points.push(`delivery + ${ms} ms`);
      } else {
        const more = 1 + Math.floor(rand() * 6);
        while (!finished && smtp.received.length < before + more) await sleep(2);
        points.push(`+${more} deliveries`);
      }
      const ranToEnd = finished;
      if (ranToEnd) {
        finishedFirst++;
        points[points.length - 1] += ' (finished first)';
      }
      child.kill('SIGKILL');
      await exited;
      // Everything sent: nothing left to interrupt.
      if (ranToEnd) break;
    }
    console.log(`seed ${seed}: ${points.length - finishedFirst} kills at ${points.join(', ')}`);
    expect(points.length - finishedFirst).toBeGreaterThanOrEqual(Math.min(kills / 2, points.length));

    const final = await runCli(['outbox', 'flush', '--json', ...couchArgs()], {});
    expect([0, 1]).toContain(final.code);
    const deliveredBefore = smtp.received.length;
    const again = await runCli(['outbox', 'flush', '--json', ...couchArgs()], {});
    expect(JSON.parse(again.stdout)).toMatchObject({ sent: 0 });
    expect(smtp.received.length).toBe(deliveredBefore);

    const states: Record<string, number> = {};
    for (const id of ids) {
      const state = await senderState(t.db, id);
      const count = smtp.count(id);
      states[state?.state ?? 'none'] = (states[state?.state ?? 'none'] ?? 0) + 1;
      // Never twice, whatever happened.
      expect(count, id).toBeLessThanOrEqual(1);
      expect(['sent', 'unknown'], `${id}: ${JSON.stringify(state)}`).toContain(state?.state);
      if (state?.state === 'sent') expect(count, id).toBe(1);
      // An unknown one was attempted exactly once and never automatically again.
      if (state?.state === 'unknown') expect(state.attempts.filter((a) => a.outcome !== 'unknown')).toEqual([]);
    }
    console.log(`seed ${seed}: ${JSON.stringify(states)}; the server received ${smtp.received.length} messages for ${ids.length}`);
    expect(smtp.received.length).toBe(ids.filter((id) => smtp.count(id) === 1).length);

    const list = await runCli(['outbox', '--json', ...couchArgs()], {});
    const shown = JSON.parse(list.stdout) as { messages: Array<{ messageId: string; state: string }> };
    expect(shown.messages.filter((m) => m.state === 'unknown').length).toBe(states.unknown ?? 0);
  }, 300_000);
});
