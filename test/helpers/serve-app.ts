/**
 * `raindrop serve` as a user runs it (the compiled CLI in a child process) against the
 * test run's server and one test database: the web app on a free port, the queue
 * following the feed. `idle` waits until the queue has processed every raw message.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../src/couch/connect.js';
import { startCli } from './run-cli.js';
import type { TestDatabase } from './test-database.js';

export interface ServedApp {
  /** The app's URL, ending in "/". */
  url: string;
  /** The `--couch` URL with the admin login, for CLI commands of the test. */
  couchUrl: string;
  stderr(): string;
  stop(): Promise<void>;
}

export function couchUrlWithLogin(t: TestDatabase): string {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return url.toString();
}

/** `extraArgs`: more `raindrop serve` options (e.g. `--extensions DIR`). */
export async function serveApp(t: TestDatabase, importDirs: string[], extraArgs: readonly string[] = []): Promise<ServedApp> {
  const home = await mkdtemp(join(tmpdir(), 'raindrop-serve-app-'));
  const config = join(home, 'config.json');
  await writeFile(config, '{}', { mode: 0o600 });
  const couchUrl = couchUrlWithLogin(t);
  const child: ChildProcess = startCli(['serve', '--couch', couchUrl, '--db', t.db.name, '--config', config, '--data-dir', join(home, 'data'), '--app-port', '0', '--json', ...importDirs.flatMap((d) => ['--import', d]), ...extraArgs], {});
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    const appUrl = /"app_url":\s*"([^"]+)"/.exec(stdout)?.[1];
    if (appUrl) return { url: appUrl, couchUrl, stderr: () => stderr, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`raindrop serve did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function countBySchema(db: Db): Promise<Map<string, number>> {
  const res = (await db.scope.view('rd_core', 'by_schema', { group: true })) as { rows: Array<{ key: string; value: number }> };
  return new Map(res.rows.map((r) => [r.key, r.value]));
}

/** Waits until every raw message has its body and the grouping counts add up, and the
 * numbers stay put for a moment (the queue is idle). */
export async function queueIdle(db: Db, timeoutMs = 240_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let stable = 0;
  for (;;) {
    const counts = await countBySchema(db);
    const now = JSON.stringify([...counts].sort());
    const raw = counts.get('rd.msg.rfc822') ?? 0;
    const done = raw > 0 && (counts.get('rd.msg.email') ?? 0) + (counts.get('rd.core.error') ?? 0) >= raw && (counts.get('rd.msg.body') ?? 0) > 0;
    stable = done && now === last ? stable + 1 : 0;
    last = now;
    if (stable >= 3) return counts;
    if (Date.now() > deadline) throw new Error(`the queue did not finish: ${now}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
