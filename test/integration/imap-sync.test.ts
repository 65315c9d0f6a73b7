/**
 * IMAP sync against a real Dovecot (test/helpers/dovecot.ts), loaded by APPEND with real
 * mail from the openwrt-devel archive (../shared/corpus).
 */
import { readFile, stat, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AccountSettings } from '../../src/config/index.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, sha256Hex, silentLogger } from '../../src/core/index.js';
import { bulkGet, getDoc } from '../../src/couch/bulk-get.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { syncAccount } from '../../src/protocols/imap/sync-account.js';
import { watchAccount } from '../../src/protocols/imap/watch.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { type Corpus, messageFiles, openCorpus } from '../helpers/corpus.js';
import { type Dovecot, startDovecot, withImapClient } from '../helpers/dovecot.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('imap');
let dovecot: Dovecot;
let corpus: Corpus;
let registry: SchemaRegistry;
let messages: Buffer[] = [];
let home: string;
let configFile: string;
const first = 2000;

function account(overrides: Partial<AccountSettings> = {}): AccountSettings {
  return {
    name: 'test', protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password,
    passwordFile: undefined, passwordEnv: undefined, folders: [], excludeFolders: [], identities: [], ...overrides,
  };
}

const imap = <T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> => withImapClient(dovecot, fn);

async function append(folder: string, list: Buffer[], flags: (i: number) => string[] = () => []): Promise<void> {
  await imap(async (c) => {
    if (folder !== 'INBOX') await c.mailboxCreate(folder).catch(() => undefined);
    for (let i = 0; i < list.length; i++) await c.append(folder, list[i] as Buffer, flags(i));
  });
}

const sync = (a: AccountSettings = account(), extra: Partial<Parameters<typeof syncAccount>[0]> = {}) =>
  syncAccount({ registry, db: t.db, account: a, logger: silentLogger, ...extra });

async function rawIds(): Promise<string[]> {
  const view = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.msg.rfc822', reduce: false })) as unknown as { rows: Array<{ id: string }> };
  return view.rows.map((r) => r.id).sort();
}

const keyOf = (bytes: Buffer) => {
  const k = messageKey(bytes);
  if (!k.ok) throw new Error(k.reason);
  return k.key;
};
const expectedIds = (list: Buffer[]) => [...new Set(list.map((b) => docIdFor(keyOf(b), 'rd.msg.rfc822')))].sort();

/** The UIDs the folder state maps to messages (rd.imap.folder-uids chunks). */
async function knownUids(folder: string, name = 'test'): Promise<string[]> {
  const state = await getDoc(t.db, docIdFor(['folder', [name, folder]], 'rd.imap.folder-state'));
  if (!state) return [];
  const n = Number(state.uid_chunks ?? 0);
  const chunks = await bulkGet(t.db, Array.from({ length: n }, (_, i) => docIdFor(['folder', [name, folder, String(state.uidvalidity), i]], 'rd.imap.folder-uids')));
  return [...chunks.values()].flatMap((c) => Object.keys(c.uids as object));
}

function couchArgs(): string[] {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return ['--couch', url.toString(), '--db', t.db.name, '--config', configFile];
}

beforeAll(async () => {
  dovecot = await startDovecot();
  corpus = await openCorpus(inject('corpusDir'));
  const files = await messageFiles(await corpus.unpack('openwrt-devel'));
  messages = await Promise.all(files.slice(0, first + 700).map((f) => readFile(f)));
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(t.db, builtInSchemaDir());
  registry = await SchemaRegistry.load(t.db);
  home = await mkdtemp(join(tmpdir(), 'raindrop-imap-home-'));
  configFile = join(home, 'config.json');
}, 180_000);

afterAll(async () => {
  await registry?.close();
  await dovecot?.close();
  await corpus?.remove();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('IMAP sync against Dovecot', () => {
  const inbox = () => messages.slice(0, first);
  // The same 10 messages in INBOX and in Lists: stored once, two locations each.
  const lists = () => [...messages.slice(first, first + 40), ...messages.slice(0, 10)];

  it('first sync stores every message once, newest first, without marking anything read', async () => {
    await append('INBOX', inbox(), (i) => (i % 5 === 0 ? ['\\Seen'] : i % 7 === 0 ? ['\\Flagged'] : []));
    await append('Lists', lists());
    const started = performance.now();
    const summary = await sync();
    const seconds = (performance.now() - started) / 1000;
    console.log(`first sync: ${summary.fetched} messages, ${(summary.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s = ${(summary.fetched / seconds).toFixed(0)} msg/s`);
    expect(summary.result).toBe('ok');
    expect(summary.folders.slice(0, 3)).toEqual(['INBOX', 'Sent', 'Drafts']);
    expect(summary.folders).not.toContain('Trash');
    expect(summary.folders).not.toContain('Junk');
    expect(summary.fetched).toBe(first + 50);
    const expected = expectedIds([...inbox(), ...lists()]);
    expect(await rawIds()).toEqual(expected);
    expect(summary.stored).toBe(expected.length);
    // Bytes exactly as appended.
    const one = messages[123] as Buffer;
    const doc = await getDoc(t.db, docIdFor(keyOf(one), 'rd.msg.rfc822'));
    // IMAP stores lines with CRLF: the bytes are the appended ones, line endings normalised.
    expect(doc?.sha256).toBe(sha256Hex(Buffer.from(one.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1')));
    // BODY.PEEK: the server's \Seen flags are untouched.
    const seenOnServer = await imap(async (c) => {
      const lock = await c.getMailboxLock('INBOX');
      try {
        return ((await c.search({ seen: true }, { uid: true })) || []).length;
      } finally {
        lock.release();
      }
    });
    expect(seenOnServer).toBe(Math.ceil(first / 5));
    // Flags mirrored.
    // (messages 0-9 are in two folders with different flags: see the flags test.)
    const seenDocs = await bulkGet(t.db, [10, 11].map((i) => docIdFor(keyOf(messages[i] as Buffer), 'rd.msg.seen')));
    expect([10, 11].map((i) => seenDocs.get(docIdFor(keyOf(messages[i] as Buffer), 'rd.msg.seen'))?.seen)).toEqual([true, false]);
    expect((await getDoc(t.db, docIdFor(keyOf(messages[14] as Buffer), 'rd.msg.flagged')))?.flagged).toBe(true);
    expect(await getDoc(t.db, docIdFor(keyOf(messages[11] as Buffer), 'rd.msg.flagged'))).toBeUndefined();
    // One message in two folders: one raw item, two locations.
    const loc = await getDoc(t.db, docIdFor(keyOf(messages[3] as Buffer), 'rd.msg.location'));
    expect((loc?.locations as Array<{ folder: string }>).map((l) => l.folder).sort()).toEqual(['INBOX', 'Lists']);
    const status = await getDoc(t.db, docIdFor(['account', 'test'], 'rd.core.sync-status'));
    expect(status).toMatchObject({ result: 'ok', fetched: first + 50 });
  }, 300_000);

  it('a second sync fetches nothing and writes nothing', async () => {
    const before = (await t.db.scope.info()) as unknown as { update_seq: unknown; doc_count: number };
    const summary = await sync();
    expect(summary).toMatchObject({ result: 'ok', fetched: 0, flagUpdates: 0, expunged: 0 });
    const after = (await t.db.scope.info()) as unknown as { doc_count: number };
    expect(after.doc_count).toBe(before.doc_count);
  });

  it('flag changes on the server reach rd.msg.seen / rd.msg.flagged (CONDSTORE)', async () => {
    const target = messages[11] as Buffer; // unseen, unflagged, UID 12 in INBOX
    await imap(async (c) => {
      const lock = await c.getMailboxLock('INBOX');
      try {
        await c.messageFlagsAdd('12', ['\\Seen', '\\Flagged'], { uid: true });
        await c.messageFlagsRemove('11', ['\\Seen'], { uid: true });
      } finally {
        lock.release();
      }
    });
    const summary = await sync();
    expect(summary.fetched).toBe(0);
    expect(summary.flagUpdates).toBe(3);
    // The flags of each location are kept; the mirror is computed from all of them.
    const loc = await getDoc(t.db, docIdFor(keyOf(target), 'rd.msg.location'));
    expect(loc?.locations).toEqual([expect.objectContaining({ folder: 'INBOX', uid: 12, seen: true, flagged: true, deleted: false })]);
    expect((await getDoc(t.db, docIdFor(keyOf(target), 'rd.msg.seen')))?.seen).toBe(true);
    expect((await getDoc(t.db, docIdFor(keyOf(target), 'rd.msg.flagged')))?.flagged).toBe(true);
    expect((await getDoc(t.db, docIdFor(keyOf(messages[10] as Buffer), 'rd.msg.seen')))?.seen).toBe(false);
  });

  it('raindrop mark goes to the server once, with the result recorded', async () => {
    const id = String(keyOf(messages[20] as Buffer)[1]); // UID 21, unseen on the server
    const archivedId = String(keyOf(messages[30] as Buffer)[1]); // UID 31
    expect((await runCli(['mark', '--seen', `<${id}>`, ...couchArgs()], {})).code).toBe(0);
    expect((await runCli(['mark', '--archive', archivedId, ...couchArgs()], {})).code).toBe(0);
    const summary = await sync();
    expect(summary.pushed).toBe(2);
    const flags = await imap(async (c) => {
      const lock = await c.getMailboxLock('INBOX');
      try {
        const m = await c.fetchOne('21', { flags: true }, { uid: true });
        const gone = await c.fetchOne('31', { flags: true }, { uid: true });
        return { seen: m ? m.flags?.has('\\Seen') : undefined, stillInInbox: gone !== false };
      } finally {
        lock.release();
      }
    });
    expect(flags).toEqual({ seen: true, stillInInbox: false });
    const push = await getDoc(t.db, docIdFor(['email', id], 'rd.imap.push'));
    expect(push?.pushes).toMatchObject([{ account: 'test', schema: 'rd.msg.seen', outcome: 'done', value: true }]);
    const loc = await getDoc(t.db, docIdFor(['email', archivedId], 'rd.msg.location'));
    expect((loc?.locations as Array<{ folder: string }>).map((l) => l.folder)).toEqual(['Archive']);
    // Once: the next sync sends nothing again, even after the server changes it back.
    await imap(async (c) => {
      const lock = await c.getMailboxLock('INBOX');
      try {
        await c.messageFlagsRemove('21', ['\\Seen'], { uid: true });
      } finally {
        lock.release();
      }
    });
    const again = await sync();
    expect(again.pushed).toBe(0);
    // The user's change, once on the server, no longer hides the server's later state.
    const seen = await getDoc(t.db, docIdFor(['email', id], 'rd.msg.seen'));
    expect(seen?.seen).toBe(false);
    expect(Object.keys(seen?.rd_schema_items as object)).toEqual(['rd.imap']);
  });

  it('a message expunged on the server loses its location; its raw item stays', async () => {
    const victims = [messages[40], messages[41], messages[42]] as Buffer[];
    await imap(async (c) => {
      const lock = await c.getMailboxLock('INBOX');
      try {
        await c.messageDelete('41:43', { uid: true });
      } finally {
        lock.release();
      }
    });
    const rawBefore = await rawIds();
    const summary = await sync();
    expect(summary.expunged).toBe(3);
    for (const v of victims) expect(await getDoc(t.db, docIdFor(keyOf(v), 'rd.msg.location'))).toBeUndefined();
    expect(await rawIds()).toEqual(rawBefore);
  });

  it('a UIDVALIDITY change re-baselines the folder without duplicates', async () => {
    const rawBefore = await rawIds();
    dovecot.doveadm(['mailbox', 'update', '-u', dovecot.user, '--uid-validity', '12345', 'Lists']);
    const summary = await sync();
    expect(summary.result).toBe('ok');
    expect(summary.fetched).toBe(50);
    expect(summary.stored).toBe(0);
    expect(await rawIds()).toEqual(rawBefore);
    const loc = await getDoc(t.db, docIdFor(keyOf(messages[3] as Buffer), 'rd.msg.location'));
    expect((loc?.locations as Array<{ folder: string; uidvalidity: string }>).find((l) => l.folder === 'Lists')?.uidvalidity).toBe('12345');
    expect((loc?.locations as unknown[]).length).toBe(2);
  });

  it('a connection cut mid-fetch (Dovecot restarted) resumes without loss or duplicates', async () => {
    const cut = messages.slice(first + 40, first + 640);
    await append('Cut', cut);
    let batches = 0;
    const summary = await sync(account({ folders: ['Cut'] }), {
      afterBatch: async () => {
        if (++batches === 1) {
          await dovecot.stop();
          await dovecot.start();
        }
      },
    });
    expect(summary.result).toBe('ok');
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    const all = [...inbox(), ...lists(), ...cut];
    expect(await rawIds()).toEqual(expectedIds(all));
    expect((await knownUids('Cut')).length).toBe(cut.length);
    expect((await sync(account({ folders: ['Cut'] }))).fetched).toBe(0);
  }, 120_000);

  it('account add / list / test / remove through the CLI; the secret stays in the 0600 config file', async () => {
    const add = await runCli(['account', 'add', 'cli', '--imap-host', dovecot.host, '--imap-port', String(dovecot.port), '--tls', 'none', '--user', dovecot.user, '--password-env', 'TEST_IMAP_PW', '--identities', 'ann@example.org', ...couchArgs()], {});
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    const item = await getDoc(t.db, docIdFor(['account', 'cli'], 'rd.account'));
    expect(item).toMatchObject({ name: 'cli', protocol: 'imap', username: dovecot.user, identities: [['email', 'ann@example.org']] });
    expect(JSON.stringify(item)).not.toContain(dovecot.password);
    const test = await runCli(['account', 'test', 'cli', '--json', ...couchArgs()], { TEST_IMAP_PW: dovecot.password });
    expect(test.code).toBe(0);
    expect(JSON.parse(test.stdout)).toMatchObject({ ok: true, capabilities: expect.arrayContaining(['IDLE', 'CONDSTORE', 'QRESYNC']) });
    const listed = JSON.parse((await runCli(['account', 'list', '--json', ...couchArgs()], {})).stdout) as { accounts: Array<{ name: string; password: string }> };
    expect(listed.accounts).toEqual([expect.objectContaining({ name: 'cli', password: 'env TEST_IMAP_PW' })]);
    const synced = await runCli(['sync', 'cli', '--folder', 'INBOX', '--json', ...couchArgs()], { TEST_IMAP_PW: dovecot.password });
    expect(synced.code).toBe(0);
    expect(JSON.parse(synced.stdout).accounts[0]).toMatchObject({ account: 'cli', result: 'ok', stored: 0 });
    expect((await runCli(['account', 'remove', 'cli', ...couchArgs()], {})).code).toBe(0);
    expect(await getDoc(t.db, docIdFor(['account', 'cli'], 'rd.account'))).toBeUndefined();
  }, 120_000);

  it('a wrong password fails with exit 12 and reason auth, and never shows the password', async () => {
    const wrong = 'wrong-pw-zz9';
    await runCli(['account', 'add', 'bad', '--imap-host', dovecot.host, '--imap-port', String(dovecot.port), '--tls', 'none', '--user', dovecot.user, '--password-env', 'BAD_PW', ...couchArgs()], {});
    const test = await runCli(['account', 'test', 'bad', '--json', ...couchArgs()], { BAD_PW: wrong });
    expect(test.code).toBe(12);
    expect(JSON.parse(test.stdout)).toMatchObject({ error: 'MAIL_AUTH', details: { reason: 'auth' } });
    expect(test.stdout + test.stderr).not.toContain(wrong);
    const synced = await runCli(['sync', 'bad', '--json', ...couchArgs()], { BAD_PW: wrong });
    expect(synced.code).toBe(12);
    expect(synced.stdout + synced.stderr).not.toContain(wrong);
    const status = await getDoc(t.db, docIdFor(['account', 'bad'], 'rd.core.sync-status'));
    expect(status).toMatchObject({ result: 'failed', error: { code: 'MAIL_AUTH', reason: 'auth' } });
    expect(JSON.stringify(status)).not.toContain(wrong);
    await runCli(['account', 'remove', 'bad', ...couchArgs()], {});
  }, 120_000);

  it('an unreachable server fails fast with exit 11 and the reason', async () => {
    const summary = await sync(account({ name: 'down', port: 1 }));
    expect(summary).toMatchObject({ result: 'failed', error: { code: 'MAIL_UNREACHABLE', reason: 'refused' } });
    const dns = await sync(account({ name: 'down', host: 'no-such-host.invalid' }));
    expect(dns.error?.reason).toBe('dns');
    await writeFile(configFile, JSON.stringify({ accounts: { down: { protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'x', password: 'y' } } }), { mode: 0o600 });
    const test = await runCli(['account', 'test', 'down', '--json', ...couchArgs()], {});
    expect(test.code).toBe(11);
    expect(JSON.parse(test.stdout)).toMatchObject({ error: 'MAIL_UNREACHABLE', details: { reason: 'refused' } });
  });

  it('--watch picks up new mail in INBOX (IDLE) and stops on SIGTERM', async () => {
    await writeFile(configFile, JSON.stringify({ accounts: { test: { protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password } } }), { mode: 0o600 });
    const child = startCli(['sync', 'test', '--watch', ...couchArgs()], {});
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Wait for the first pass to finish (it logs one line per pass).
      for (let i = 0; i < 200 && !stderr.includes('test: ok'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toContain('test: ok');
      const fresh = messages[first + 650] as Buffer;
      await append('INBOX', [fresh]);
      const id = docIdFor(keyOf(fresh), 'rd.msg.rfc822');
      let doc: CouchDoc | undefined;
      for (let i = 0; i < 150 && !doc; i++) {
        await new Promise((r) => setTimeout(r, 100));
        doc = await getDoc(t.db, id);
      }
      expect(doc, stderr).toBeDefined();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 120_000);

  it('watching, mail that comes in after INBOX was selected for a pass and before IDLE begins is fetched at once, not at the next poll', async () => {
    const during = messages[first + 660] as Buffer;
    const late = messages[first + 661] as Buffer;
    // A new message gives the first pass a batch; after that batch (INBOX selected, its
    // UIDNEXT taken) another arrives, which IDLE will not announce.
    await append('INBOX', [during]);
    let appended = false;
    let stop = (): void => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const passes: Array<{ folders: string[]; stored: number }> = [];
    const watching = watchAccount({
      registry, db: t.db, account: account({ name: 'race', folders: ['INBOX'] }), logger: silentLogger, stop: stopped, pollMs: 600_000,
      afterBatch: async () => {
        if (appended) return;
        appended = true;
        await append('INBOX', [late]);
      },
      onPass: (p) => passes.push({ folders: p.folders, stored: p.stored }),
    });
    try {
      await expect.poll(() => getDoc(t.db, docIdFor(keyOf(late), 'rd.msg.rfc822')), { timeout: 30_000, interval: 200 }).toBeDefined();
      expect(appended).toBe(true);
      // The first pass had selected INBOX before the late message came (it stored the
      // other new one); the second, started without waiting, stored the late one (it
      // reports once it ends, which may be after the document is readable).
      await expect.poll(() => passes.length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(2);
      expect(passes.slice(0, 2).map((p) => p.stored)).toEqual([1, 1]);
    } finally {
      stop();
      await watching;
    }
  }, 120_000);
});
