/**
 * `raindrop serve` keeps the configured mail accounts in step: a full sync at start, new
 * INBOX mail through IDLE, and a clean stop on SIGTERM.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { type Corpus, messageFiles, openCorpus } from '../helpers/corpus.js';
import { type Dovecot, startDovecot, withImapClient } from '../helpers/dovecot.js';
import { startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('imap_serve');
let dovecot: Dovecot;
let corpus: Corpus;
let home: string;
let messages: Buffer[] = [];

const rawId = (bytes: Buffer): string => {
  const k = messageKey(bytes);
  if (!k.ok) throw new Error(k.reason);
  return docIdFor(k.key, 'rd.msg.rfc822');
};

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
  corpus = await openCorpus(inject('corpusDir'));
  const files = await messageFiles(await corpus.unpack('openwrt-devel'));
  messages = await Promise.all(files.slice(0, 31).map((f) => readFile(f)));
  await dovecot.deliver('INBOX', messages.slice(0, 30));
  home = await mkdtemp(join(tmpdir(), 'raindrop-imap-serve-'));
}, 120_000);

afterAll(async () => {
  await dovecot?.close();
  await corpus?.remove();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('raindrop serve with a mail account', () => {
  it('syncs the account at start, picks up new mail, stops cleanly on SIGTERM', async () => {
    const configFile = join(home, 'config.json');
    await writeFile(configFile, JSON.stringify({ accounts: { s: { protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password } } }), { mode: 0o600 });
    const url = new URL(t.url);
    url.username = encodeURIComponent(t.username);
    url.password = encodeURIComponent(t.password);
    const child = startCli(['serve', '--app-port', '0', '--couch', url.toString(), '--db', t.db.name, '--config', configFile], {});
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // The first pass: every message already on the server.
      const first = await waitFor(() => getDoc(t.db, rawId(messages[0] as Buffer)), 45_000);
      expect(first, stderr).toBeDefined();
      await waitFor(async () => (stderr.includes('sync s: ok') ? true : undefined), 30_000);
      expect(stderr).toContain('sync s: ok');
      for (const m of messages.slice(0, 30)) expect(await getDoc(t.db, rawId(m))).toBeDefined();
      // New mail in INBOX arrives through IDLE, without waiting for the poll interval.
      await withImapClient(dovecot, (c) => c.append('INBOX', messages[30] as Buffer));
      const fresh = await waitFor<CouchDoc>(() => getDoc(t.db, rawId(messages[30] as Buffer)), 20_000);
      expect(fresh, stderr).toBeDefined();
      const status = await getDoc(t.db, docIdFor(['account', 's'], 'rd.core.sync-status'));
      expect(status?.result).toMatch(/^(ok|running)$/);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code, stderr).toBe(0);
  }, 120_000);
});
