import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('cli');
let home: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'raindrop-cli-'));
  env = { HOME: home, RAINDROP_CONFIG: join(home, 'no-config.json'), RAINDROP_DATA_DIR: join(home, 'data'), RAINDROP_LOG_LEVEL: 'warn' };
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
    }
  }
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

function couchUrlWithLogin(): string {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return url.toString();
}

describe('raindrop CLI', () => {
  it('prints help and uses exit code 2 for usage errors', async () => {
    const help = await runCli(['--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: raindrop <command>/);
    expect(help.stdout).toMatch(/init .*\n.*serve/s);
    const unknown = await runCli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const badOption = await runCli(['status', '--bogus'], env);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/bogus/);
    expect((await runCli(['init', '--help'], env)).stdout).toMatch(/Examples:/);
  });

  it('init and status work against a given server, with --json', async () => {
    const db = `${t.db.name}_cli`;
    const args = ['--couch', couchUrlWithLogin(), '--db', db, '--json'];
    const first = await runCli(['init', ...args], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ db, created: true, designDocs: { written: ['_design/rd_core'] } });
    const again = await runCli(['init', ...args], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, designDocs: { written: [], unchanged: ['_design/rd_core'] } });
    const status = await runCli(['status', ...args], env);
    expect(status.code, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as { db: string; docCount: number; schemas: Record<string, number> };
    expect(parsed).toMatchObject({ db, docCount: 1, schemas: {} });
    expect(status.stdout).not.toContain(t.password);
    await t.couch.server.db.destroy(db);
  });

  it('gives exit code 5 and hides the password when the credentials are wrong', async () => {
    const url = new URL(t.url);
    url.username = t.username;
    url.password = 'definitely-wrong-pw';
    const result = await runCli(['status', '--couch', url.toString(), '--json'], env);
    expect(result.code).toBe(5);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: 'COUCH_AUTH' });
    expect(result.stdout + result.stderr).not.toContain('definitely-wrong-pw');
  });

  it('gives exit code 4 when the server cannot be reached', async () => {
    const result = await runCli(['status', '--couch', 'http://127.0.0.1:1'], env);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/could not reach CouchDB/);
  });

  it('works with no server at all by starting the embedded one for the command', async () => {
    const dataDir = join(home, 'solo');
    const init = await runCli(['init', '--data-dir', dataDir, '--json'], env);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ db: 'raindrop', created: true });
    const status = await runCli(['status', '--data-dir', dataDir, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ db: 'raindrop', docCount: 1 });
    // Nothing keeps running after a command, and `url` says there is no server.
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
    const url = await runCli(['url', '--data-dir', dataDir], env);
    expect(url.code).toBe(6);
    expect(url.stderr).toMatch(/raindrop serve/);
  });

  it('serve answers on its port; other commands use it; SIGTERM stops it cleanly', async () => {
    const dataDir = join(home, 'served');
    const serve = startCli(['serve', '--data-dir', dataDir, '--port', '0', '--json'], env);
    children.push(serve);
    let out = '';
    serve.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const started = Date.now();
    while (!out.trim().endsWith('}')) {
      if (serve.exitCode !== null || Date.now() - started > 30_000) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const info = JSON.parse(out) as { url: string; username: string };
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const welcome = (await (await fetch(`${info.url}/`)).json()) as { couchdb: string };
    expect(welcome.couchdb).toBe('Welcome');
    expect((await fetch(`${info.url}/raindrop`)).status).toBe(401);

    const status = await runCli(['status', '--data-dir', dataDir, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ server: info.url, db: 'raindrop' });
    const plain = await runCli(['url', '--data-dir', dataDir], env);
    expect(plain.stdout.trim()).toBe(info.url);
    const withLogin = await runCli(['url', '--credentials', '--data-dir', dataDir], env);
    const login = new URL(withLogin.stdout.trim());
    expect(login.username).toBe('admin');
    const authed = await fetch(`${info.url}/raindrop`, { headers: { authorization: `Basic ${Buffer.from(`${login.username}:${decodeURIComponent(login.password)}`).toString('base64')}` } });
    expect(authed.status).toBe(200);
    // A second serve on the same data dir is refused with its own exit code.
    const second = await runCli(['serve', '--data-dir', dataDir, '--port', '0'], env);
    expect(second.code).toBe(7);

    serve.kill('SIGTERM');
    const code = await new Promise((r) => serve.once('close', r));
    expect(code).toBe(0);
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
  });

  it('doctor checks node, native modules and the server', async () => {
    const result = await runCli(['doctor', '--couch', couchUrlWithLogin(), '--json'], env);
    expect(result.code, result.stdout).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(report.checks.map((c) => c.name)).toEqual(['node', 'native module leveldown', 'couchdb']);
    const down = await runCli(['doctor', '--couch', 'http://127.0.0.1:1', '--json'], env);
    expect(down.code).toBe(8);
  });
});
