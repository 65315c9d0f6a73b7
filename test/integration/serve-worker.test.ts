/**
 * "raindrop serve --worker" on one server beside a "raindrop worker": serve joins the
 * workers and shares the partitions, and the single-process queue ("process", a plain
 * "serve") refuses to run while workers are live, since it would do their work again and
 * count messages twice. Real CLI processes, the run's server, real mail.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageFiles, spamAssassinDir } from '../helpers/corpus.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('serveworker');
let home: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];

function couchArgs(): string[] {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return ['--couch', url.toString(), '--db', t.db.name];
}

interface Started { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

function start(args: string[]): Started {
  const child = startCli([...args, ...couchArgs()], { ...env, RAINDROP_LOG_LEVEL: 'info' });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err, exited: new Promise((r) => child.once('close', (code) => r(code))) };
}

interface StatusJson { cluster?: { workers: Array<{ id: string; state: string; partitions: number[] }> }; schemas: Record<string, number> }
const status = async (): Promise<StatusJson> => {
  const r = await runCli(['status', '--json', ...couchArgs()], env);
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

    serve.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await serve.exited, serve.stderr().slice(-2000)).toBe(0);
    expect(await worker.exited, worker.stderr().slice(-2000)).toBe(0);
    expect((await status()).cluster?.workers.filter((w) => w.state === 'live') ?? []).toEqual([]);
    // With the workers gone, the single queue may run again.
    const processed = await runCli(['process', ...couchArgs()], env);
    expect(processed.code, processed.stderr).toBe(0);
  }, 240_000);
});
