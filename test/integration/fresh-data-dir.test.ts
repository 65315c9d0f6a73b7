/**
 * Every command, run first on a fresh data directory, a fresh HOME and a database that
 * does not exist yet: none may fail because nothing was installed (`account add` once
 * failed with "404 not_found: no_db_file"). The table is checked against the CLI's own
 * list of commands, so a new command cannot be added without a row here.
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandTable } from '../../src/cli/command-table.js';
import { type CliResult, runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('fresh');
let root: string;
let couchUrl: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'raindrop-fresh-'));
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  couchUrl = url.toString();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const message = [
  'From: Ann Example <ann@example.org>',
  'To: bob@example.org',
  'Subject: first message on a fresh data dir',
  'Message-ID: <fresh-1@example.org>',
  'Date: Mon, 30 Nov 2026 08:00:00 +0000',
  '',
  'Hello.',
  '',
].join('\r\n');

interface Case {
  /** The command's name as the CLI lists it. */
  command: string;
  args: (dir: string) => Promise<string[]> | string[];
  /** Exit codes that are this command's answer on an empty database, not a fault. */
  codes?: number[];
}

const cases: Case[] = [
  { command: 'init', args: () => ['init'] },
  { command: 'status', args: () => ['status', '--json'] },
  // With --couch there is always a URL to print.
  { command: 'url', args: () => ['url'] },
  { command: 'doctor', args: () => ['doctor'] },
  { command: 'ext', args: () => ['ext', 'list', '--json'] },
  { command: 'schema', args: () => ['schema', 'list', '--json'] },
  { command: 'process', args: () => ['process', '--json'] },
  { command: 'reprocess', args: () => ['reprocess', '--ext', 'rd.ext.email', '--json'] },
  { command: 'unprocess', args: () => ['unprocess', '--ext', 'rd.ext.email', '--json'] },
  { command: 'errors', args: () => ['errors', '--json'] },
  { command: 'retry-errors', args: () => ['retry-errors', '--json'] },
  {
    command: 'import',
    args: async (dir) => {
      await writeFile(join(dir, 'one.eml'), message);
      return ['import', join(dir, 'one.eml'), '--json'];
    },
  },
  { command: 'account', args: () => ['account', 'add', 'work', '--imap-host', '127.0.0.1', '--user', 'ann', '--password-env', 'FRESH_PW', '--identities', 'ann@example.org'] },
  // An account whose server is not there (port 1): sync gets as far as the mail server
  // and reports it unreachable (exit 11), so the database side ran first.
  {
    command: 'sync',
    args: async (dir) => {
      const account = { protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'ann', passwordEnv: 'FRESH_PW' };
      await writeFile(join(dir, 'config.json'), JSON.stringify({ accounts: { work: account } }), { mode: 0o600 });
      return ['sync', '--json'];
    },
    codes: [11],
  },
  // The message is not there yet: mark records the user's wish all the same.
  { command: 'mark', args: () => ['mark', '--seen', '<fresh-1@example.org>'] },
  { command: 'show', args: () => ['show', '--list', '--json'] },
  // Builds the (empty) index in the data directory and finds nothing.
  { command: 'search', args: () => ['search', 'hello', '--json'] },
  // An account that can send; --draft stores the message without sending it.
  {
    command: 'send',
    args: async (dir) => {
      const account = { protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'ann', passwordEnv: 'FRESH_PW', identities: ['ann@example.org'], smtp: { host: '127.0.0.1', port: 1, tls: 'none' } };
      await writeFile(join(dir, 'config.json'), JSON.stringify({ accounts: { work: account } }), { mode: 0o600 });
      await writeFile(join(dir, 'body.txt'), 'Hello.\n');
      return ['send', '--draft', '--to', 'bob@example.org', '--subject', 'first', '--body', join(dir, 'body.txt'), '--json'];
    },
  },
  { command: 'outbox', args: () => ['outbox', '--json'] },
  // No worker has announced itself in a fresh database: the drain request says so (a
  // usage error) after opening the database; a running worker has its own test.
  { command: 'worker', args: () => ['worker', '--drain', 'nobody-1-abcdef'], codes: [2] },
  {
    command: 'user',
    args: async (dir) => {
      await writeFile(join(dir, 'pw'), 'a long member password\n', { mode: 0o600 });
      return ['user', 'add', `fresh${Date.now().toString(36)}`, '--password-file', join(dir, 'pw')];
    },
  },
];

async function freshRun(index: number, c: Case): Promise<CliResult> {
  const dir = join(root, `${index}-${c.command}`);
  await mkdir(dir, { recursive: true });
  const env = { HOME: dir, RAINDROP_CONFIG: join(dir, 'config.json'), RAINDROP_DATA_DIR: join(dir, 'data'), RAINDROP_LOG_LEVEL: 'warn', FRESH_PW: 'pw' };
  const db = `${t.db.name}_${index}`;
  const args = [...(await c.args(dir)), '--couch', couchUrl, '--db', db];
  try {
    return await runCli(args, env);
  } finally {
    await t.couch.server.db.destroy(db).catch(() => undefined);
  }
}

describe('every command on a fresh data dir and an empty server', () => {
  it('has a case for every command the CLI offers (serve has its own below)', () => {
    const covered = new Set([...cases.map((c) => c.command), 'serve']);
    expect(commandTable.map((c) => c.name).filter((n) => !covered.has(n))).toEqual([]);
  });

  it.each(cases.map((c, i) => [c.command, i, c] as const))('%s works as the first command', async (_name, index, c) => {
    const result = await freshRun(index, c);
    expect(c.codes ?? [0], `${c.command} exited ${result.code}\n${result.stderr}`).toContain(result.code);
    expect(result.stderr).not.toMatch(/no_db_file|not_found|Database does not exist/i);
  });

  it('account add on a fresh data dir with no server at all starts the embedded one and installs', async () => {
    const dir = join(root, 'embedded');
    await mkdir(dir, { recursive: true });
    const env = { HOME: dir, RAINDROP_CONFIG: join(dir, 'config.json'), RAINDROP_DATA_DIR: join(dir, 'data'), RAINDROP_LOG_LEVEL: 'warn', FRESH_PW: 'pw' };
    const add = await runCli(['account', 'add', 'home', '--imap-host', '127.0.0.1', '--user', 'ann', '--password-env', 'FRESH_PW', '--json'], env);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ account: 'home', replaced: false });
    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ db: 'raindrop', schemas: { 'rd.account': 1 } });
  });

  it('serve starts on a fresh data dir, installs, answers, and stops on SIGTERM', async () => {
    const dir = join(root, 'serve');
    await mkdir(dir, { recursive: true });
    const db = `${t.db.name}_serve`;
    const env = { HOME: dir, RAINDROP_CONFIG: join(dir, 'config.json'), RAINDROP_DATA_DIR: join(dir, 'data'), RAINDROP_LOG_LEVEL: 'warn' };
    const serve = startCli(['serve', '--app-port', '0', '--couch', couchUrl, '--db', db, '--port', '0', '--json'], env);
    let out = '';
    let err = '';
    serve.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    serve.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve) => serve.once('close', resolve));
    try {
      const started = Date.now();
      while (!out.trim().endsWith('}')) {
        if (serve.exitCode !== null || Date.now() - started > 45_000) throw new Error(`serve did not start: ${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const status = await runCli(['status', '--couch', couchUrl, '--db', db, '--json'], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ db, schemas: { 'rd.core.schema': expect.any(Number) } });
      serve.kill('SIGTERM');
      expect(await closed, err).toBe(0);
    } finally {
      if (serve.exitCode === null && serve.signalCode === null) {
        serve.kill('SIGKILL');
        await closed;
      }
      await t.couch.server.db.destroy(db).catch(() => undefined);
    }
  });
});
