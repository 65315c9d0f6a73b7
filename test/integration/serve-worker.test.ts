/**
 * "raindrop serve --worker" on one server beside a "raindrop worker": serve joins the
 * workers and shares the partitions, and the single-process queue ("process", a plain
 * "serve") refuses to run while workers are live, since it would do their work again and
 * count messages twice. Real CLI processes, the run's server, real mail.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { useDatabase } from '../../src/couch/connect.js';
import { ensureDatabase, destroyDatabase } from '../../src/couch/ensure-database.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { applyUserItem } from '../../couchapp/app/src/data/user-state.js';
import { messageFiles, spamAssassinDir } from '../helpers/corpus.js';
import { type Dovecot, startDovecot, withImapClient } from '../helpers/dovecot.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('serveworker');
let home: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];

function couchArgs(db = t.db.name): string[] {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return ['--couch', url.toString(), '--db', db];
}

interface Started { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

function start(args: string[], db = t.db.name, extraEnv: Record<string, string> = {}): Started {
  const child = startCli([...args, ...couchArgs(db)], { ...env, RAINDROP_LOG_LEVEL: 'info', ...extraEnv });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err, exited: new Promise((r) => child.once('close', (code) => r(code))) };
}

interface StatusJson { cluster?: { workers: Array<{ id: string; state: string; partitions: number[]; leases: string[] }> }; schemas: Record<string, number> }
const status = async (db = t.db.name): Promise<StatusJson> => {
  const r = await runCli(['status', '--json', ...couchArgs(db)], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'raindrop-serve-worker-'));
  env = { HOME: home, RAINDROP_CONFIG: join(home, 'none.json'), RAINDROP_DATA_DIR: join(home, 'data'), RAINDROP_LOG_LEVEL: 'error' };
  const init = await runCli(['init', ...couchArgs()], env);
  expect(init.code, init.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(home, { recursive: true, force: true });
});

describe('serve --worker beside a worker', () => {
  it('shares the partitions, processes real mail, and keeps the single queue out while workers run', async () => {
    const worker = start(['worker', '--json']);
    await expect.poll(() => /"worker"/.test(worker.stdout()) || worker.child.exitCode !== null, { timeout: 60_000, interval: 250 }).toBe(true);
    const workerId = (JSON.parse(worker.stdout()) as { worker: string }).worker;

    const refused = await runCli(['process', ...couchArgs()], env);
    expect(refused.code, refused.stderr).toBe(7);
    expect(refused.stderr).toMatch(/worker\(s\) are processing/);
    expect(refused.stderr).toContain(workerId);
    const plainServe = await runCli(['serve', '--app-port', '0', ...couchArgs()], env);
    expect(plainServe.code, plainServe.stderr).toBe(7);
    expect(plainServe.stderr).toMatch(/serve --worker/);

    const serve = start(['serve', '--worker', '--app-port', '0', '--json']);
    // Both live, each holding some of the 16 partitions.
    await expect.poll(async () => {
      const workers = (await status()).cluster?.workers.filter((w) => w.state === 'live') ?? [];
      return workers.length === 2 && workers.every((w) => w.partitions.length > 0) ? workers.reduce((n, w) => n + w.partitions.length, 0) : 0;
    }, { timeout: 60_000, interval: 500 }).toBe(16);

    const files = (await messageFiles(join(spamAssassinDir, 'easy-ham-1'))).slice(0, 12);
    const imported = await runCli(['import', ...files, ...couchArgs()], env);
    expect(imported.code, imported.stderr).toBe(0);
    // Every message parsed (per-key work, on both workers' partitions) and counted in
    // the conversations (cross-key work, on the one holding the aggregates).
    await expect.poll(async () => {
      const s = (await status()).schemas;
      return [s['rd.msg.email'] ?? 0, (s['rd.conv.summary'] ?? 0) > 0];
    }, { timeout: 90_000, interval: 1000 }).toEqual([12, true]);

    // An extension installed while both run is run by both, with no restart: each worker
    // starts a queue with it and its partitions replay the messages they hold. It fails
    // on one message until that message is flagged (a test of retry requests).
    const key = messageKey(await readFile(files[0] as string));
    if (!key.ok) throw new Error(key.reason);
    const target = key.key[1];
    const dir = join(home, 'words');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'words.js'), `export default {
  id: 'me.words', source_schemas: ['rd.msg.email'], emits: ['me.words'], reads: ['rd.msg.flagged'], category: 'provider',
  handler(doc, rd) {
    if (doc.rd_key[1] === ${JSON.stringify(target)} && rd.open(doc.rd_key, 'rd.msg.flagged')?.flagged !== true) throw new Error('not flagged yet');
    rd.emit('me.words', { count: String(doc.subject ?? '').split(/\\s+/).filter(Boolean).length });
  },
};
`);
    await writeFile(join(dir, 'me.words.json'), JSON.stringify({
      id: 'me.words', version: 1, description: 'words of the subject', key_types: ['email'],
      json_schema: { type: 'object', required: ['count'], additionalProperties: false, properties: { count: { type: 'integer', minimum: 0 } } },
      examples: { 1: [{ count: 1 }] },
    }));
    const installed = await runCli(['init', '--extensions', dir, ...couchArgs()], env);
    expect(installed.code, installed.stderr).toBe(0);
    await expect.poll(async () => (await status()).schemas['me.words'] ?? 0, { timeout: 90_000, interval: 1000 }).toBe(11);
    for (const w of [serve, worker]) expect(w.stderr()).toMatch(/the installed extensions changed: this worker runs .*me\.words/);
    const errorsOf = async () => {
      const r = await runCli(['errors', '--json', '--ext', 'me.words', ...couchArgs()], env);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { total: number }).total;
    };
    await expect.poll(errorsOf, { timeout: 30_000, interval: 1000 }).toBe(1);

    // Flagged, then retried as the web app's admin asks: a request document, which the
    // worker holding the aggregates acts on and deletes.
    expect((await runCli(['mark', '--flag', target, ...couchArgs()], env)).code).toBe(0);
    const request = applyUserItem(undefined, ['ext', 'me.words'], 'rd.core.retry-request', { requested_at: new Date().toISOString() });
    expect((await t.db.scope.insert(request as never)).ok).toBe(true);
    await expect.poll(async () => (await status()).schemas['me.words'] ?? 0, { timeout: 60_000, interval: 1000 }).toBe(12);
    await expect.poll(async () => getDoc(t.db, docIdFor(['ext', 'me.words'], 'rd.core.retry-request')), { timeout: 30_000 }).toBeUndefined();
    expect(await errorsOf()).toBe(0);
    expect(serve.stderr() + worker.stderr()).toMatch(/retried the errors of me\.words \(asked in the web app\): 1 runs, 0 still failing/);

    // Edited to read another kind of document, which these messages do not have: the
    // workers replay it, it visits nothing, and the documents its old code made from
    // the parsed messages are removed by each worker in its own partitions.
    await writeFile(join(dir, 'words.js'), `export default {
  id: 'me.words', source_schemas: ['rd.attach.file'], emits: ['me.words'], reads: [], category: 'provider',
  handler(doc, rd) { rd.emit('me.words', { count: 0 }); },
};
`);
    const edited = await runCli(['init', '--extensions', dir, ...couchArgs()], env);
    expect(edited.code, edited.stderr).toBe(0);
    await expect.poll(async () => (await status()).schemas['me.words'] ?? 0, { timeout: 90_000, interval: 1000 }).toBe(0);
    await expect.poll(() => serve.stderr() + worker.stderr(), { timeout: 10_000 }).toMatch(/removed \d+ outputs of me\.words that its new code no longer makes/);
    // Each unit's checkpoint no longer lists the edit as pending.
    await expect.poll(async () => {
      const checkpoints = await t.db.scope.list({ startkey: 'rk!checkpoint!', endkey: 'rk!checkpoint!\ufff0', include_docs: true });
      return checkpoints.rows.filter((r) => (r.doc as { replaced?: string[] } | undefined)?.replaced?.length).map((r) => r.id);
    }, { timeout: 30_000 }).toEqual([]);

    // Edited back to the parsed messages (run per partition again: 12 documents), then
    // edited so that it becomes cross-key work (a later_handler: one worker at a time, the
    // aggregates lease) while visiting nothing: the worker that holds the aggregates now
    // runs it, sees the edit although its own checkpoint never ran the extension, and
    // removes the documents the partitions' runs made.
    const editTo = async (documents: number, code: string): Promise<void> => {
      await writeFile(join(dir, 'words.js'), code);
      const r = await runCli(['init', '--extensions', dir, ...couchArgs()], env);
      expect(r.code, r.stderr).toBe(0);
      await expect.poll(async () => (await status()).schemas['me.words'] ?? 0, { timeout: 90_000, interval: 1000 }).toBe(documents);
    };
    await editTo(12, `export default {
  id: 'me.words', source_schemas: ['rd.msg.email'], emits: ['me.words'], reads: [], category: 'provider',
  handler(doc, rd) { rd.emit('me.words', { count: 1 }); },
};
`);
    await editTo(0, `export default {
  id: 'me.words', source_schemas: ['rd.attach.file'], emits: ['me.words'], reads: [], category: 'provider',
  handler(doc, rd) { rd.later({ n: 1 }); },
  later_handler(values, rd) {},
};
`);
    await expect.poll(() => serve.stderr() + worker.stderr(), { timeout: 10_000 }).toMatch(/removed \d+ outputs of me\.words that its new code no longer makes \(queue:aggregates\)/);

    serve.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await serve.exited, serve.stderr().slice(-2000)).toBe(0);
    expect(await worker.exited, worker.stderr().slice(-2000)).toBe(0);
    expect((await status()).cluster?.workers.filter((w) => w.state === 'live') ?? []).toEqual([]);
    // With the workers gone, the single queue may run again.
    const processed = await runCli(['process', ...couchArgs()], env);
    expect(processed.code, processed.stderr).toBe(0);
  }, 240_000);

  it('one fetcher per account: two workers offer it, one syncs it, and the other takes over when it dies', async () => {
    const dovecot: Dovecot = await startDovecot();
    const db = `${t.db.name}_account`;
    await ensureDatabase(t.couch, db);
    try {
      const files = (await messageFiles(join(spamAssassinDir, 'easy-ham-2'))).slice(0, 11);
      const messages = await Promise.all(files.map((f) => readFile(f)));
      await dovecot.deliver('INBOX', messages.slice(0, 10));
      const config = join(home, 'accounts.json');
      await writeFile(config, JSON.stringify({ accounts: { s: { protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password } } }), { mode: 0o600 });
      const withAccount = { RAINDROP_CONFIG: config };
      expect((await runCli(['init', ...couchArgs(db)], { ...env, ...withAccount })).code).toBe(0);
      const stored = (bytes: Buffer) => {
        const k = messageKey(bytes);
        if (!k.ok) throw new Error(k.reason);
        return getDoc(useDatabase(t.couch, db), docIdFor(k.key, 'rd.msg.rfc822'));
      };
      const timing = ['--heartbeat-ms', '500', '--lease-ms', '2000'];
      const a = start(['worker', '--json', '--roles', 'fetch', ...timing], db, withAccount);
      const b = start(['worker', '--json', '--roles', 'fetch', ...timing], db, withAccount);
      // Never two holders at once (a handover between them, when the second worker
      // joins and rendezvous prefers it, leaves none for a moment). CI once saw two here:
      // a worker whose heartbeat came late on a loaded machine still named the lease in its
      // announcement after the other took it; status now shows the lease document's owner.
      // A killed worker's last announcement still names the lease until it is seen dead,
      // so it is left out once killed.
      let most = 0;
      const killed = new Set<string>();
      const holders = async () => {
        const ids = ((await status(db)).cluster?.workers ?? []).filter((w) => w.state === 'live' && !killed.has(w.id) && w.leases.includes('account:s')).map((w) => w.id);
        most = Math.max(most, ids.length);
        return ids;
      };
      await expect.poll(async () => (await holders()).length, { timeout: 60_000, interval: 500 }).toBe(1);
      for (const m of messages.slice(0, 10)) await expect.poll(() => stored(m), { timeout: 60_000, interval: 500 }).toBeDefined();
      await expect.poll(async () => (await holders()).length, { timeout: 30_000, interval: 500 }).toBe(1);
      expect(most).toBe(1);
      const holderId = (await holders())[0] as string;
      const [holder, other] = JSON.parse(a.stdout()).worker === holderId ? [a, b] : [b, a];
      killed.add(holderId);
      holder.child.kill('SIGKILL');
      // The survivor takes the account (lease 2 s, dead after 2.5 s) and new mail reaches it.
      const otherId = (JSON.parse(other.stdout()) as { worker: string }).worker;
      await expect.poll(() => holders(), { timeout: 30_000, interval: 500 }).toEqual([otherId]);
      expect(most).toBe(1);
      await withImapClient(dovecot, (c) => c.append('INBOX', messages[10] as Buffer));
      await expect.poll(() => stored(messages[10] as Buffer), { timeout: 60_000, interval: 500 }).toBeDefined();
      other.child.kill('SIGTERM');
      expect(await other.exited, other.stderr().slice(-2000)).toBe(0);
    } finally {
      await dovecot.close();
      await destroyDatabase(t.couch, db);
    }
  }, 240_000);
});
