/**
 * `raindrop serve` sends what the web app asks for: an rd.msg.outgoing written straight
 * into the database (as the app does over CouchDB's API) while serve runs is built by the
 * queue, sent once through a real smtp-server (AUTH over STARTTLS), filed in Dovecot's
 * Sent folder; serve stops cleanly on SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { type Dovecot, startDovecot } from '../helpers/dovecot.js';
import { senderState, writeOutgoing } from '../helpers/outgoing.js';
import { startCli } from '../helpers/run-cli.js';
import { type TestSmtp, startTestSmtp } from '../helpers/smtp-server.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('smtp_serve');
const me = 'ann@example.org';
let dovecot: Dovecot;
let smtp: TestSmtp;
let home: string;

async function waitFor<T>(what: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v !== undefined || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  dovecot = await startDovecot();
  smtp = await startTestSmtp();
  home = await mkdtemp(join(tmpdir(), 'raindrop-smtp-serve-'));
}, 120_000);

afterAll(async () => {
  await smtp?.close();
  await dovecot?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('raindrop serve with an account that can send', () => {
  it('sends a message the web app writes, once, and stops cleanly on SIGTERM', async () => {
    const configFile = join(home, 'config.json');
    await writeFile(configFile, JSON.stringify({ accounts: { test: { protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password, identities: [me], smtp: { host: smtp.host, port: smtp.port, tls: 'starttls', user: smtp.user, password: smtp.password, caFile: smtp.caFile } } } }), { mode: 0o600 });
    const url = new URL(t.url);
    url.username = encodeURIComponent(t.username);
    url.password = encodeURIComponent(t.password);
    const child = startCli(['serve', '--app-port', '0', '--couch', url.toString(), '--db', t.db.name, '--config', configFile], {});
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const id = `serve.${randomBytes(4).toString('hex')}@example.org`;
    try {
      // serve installs the database (schemas, extensions) itself.
      expect(await waitFor(() => getDoc(t.db, docIdFor(['ext', 'rd.ext.outgoing'], 'rd.ext.workqueue')), 60_000), stderr).toBeDefined();
      await waitFor(async () => (stderr.includes('sync test: ok') ? true : undefined), 60_000);
      const registry = await SchemaRegistry.load(t.db);
      try {
        await writeOutgoing(registry, t.db, id, me, { subject: 'from the app' });
      } finally {
        await registry.close();
      }
      const state = await waitFor(async () => {
        const s = await senderState(t.db, id);
        return s?.state === 'sent' && s.sent_copy ? s : undefined;
      }, 60_000);
      expect(state?.state, stderr).toBe('sent');
      expect(state?.sent_copy).toMatchObject({ stored: true, folder: 'Sent' });
      expect(smtp.count(id)).toBe(1);
      // Later changes to the message's documents send nothing more.
      await new Promise((r) => setTimeout(r, 2000));
      expect(smtp.count(id)).toBe(1);
      expect(stderr).not.toContain(smtp.password);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 25_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code, stderr).toBe(0);
  }, 180_000);
});
