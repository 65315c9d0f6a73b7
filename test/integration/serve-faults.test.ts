/**
 * `raindrop serve` under faults (issue 11): it never lingers half-alive. Each test runs its
 * own serve on its own embedded server, so they run once, with the embedded suite.
 */

import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spamAssassinDir } from '../helpers/corpus.js';
import { startCli } from '../helpers/run-cli.js';
import { onlyOn } from '../helpers/server-kind.js';

const embeddedOnly = onlyOn('embedded', 'they kill the embedded server that serve runs, which a configured CouchDB is not');
const embedded = !embeddedOnly.skip;
let home: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'raindrop-serve-faults-'));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('close', r)) : undefined)));
  await rm(home, { recursive: true, force: true });
});

interface Serve {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts serve and waits for the JSON line that says it is serving. */
async function startServe(name: string, env: Record<string, string> = {}, args: string[] = []): Promise<Serve> {
  const dataDir = join(home, name);
  const child = startCli(['serve', '--app-port', '0', '--data-dir', dataDir, '--port', '0', '--json', ...args], { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), ...env });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const started = Date.now();
  while (!out.trim().endsWith('}')) {
    if (child.exitCode !== null || Date.now() - started > 60_000) throw new Error(`serve did not start: ${out}\n${err}`);
    await sleep(50);
  }
  return { child, stderr: () => err, exited };
}

/** The pid of serve's embedded server child, if one runs now. */
async function embeddedChildOf(parent: number): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')).includes('server-process')) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

const exitWithin = (serve: Serve, ms: number) => Promise.race([serve.exited, sleep(ms).then(() => 'still running' as const)]);

describe.runIf(process.platform === 'linux' && embedded)(`serve under faults ${embeddedOnly.label}`, () => {
  it('exits non-zero with the reason when the embedded server keeps crashing and its supervisor gives up', async () => {
    const serve = await startServe('crashing');
    const pid = serve.child.pid as number;
    let kills = 0;
    const deadline = Date.now() + 60_000;
    let last: number | undefined;
    // Kill the embedded server each time it comes back, until serve gives up.
    while (serve.child.exitCode === null && Date.now() < deadline && kills < 10) {
      const child = await embeddedChildOf(pid);
      if (child !== undefined && child !== last) {
        process.kill(child, 'SIGKILL');
        last = child;
        kills++;
      }
      await sleep(50);
    }
    const code = await exitWithin(serve, 30_000);
    expect(code, serve.stderr()).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(serve.stderr()).toMatch(/crashed more than 5 times/);
    expect(serve.stderr()).toMatch(/raindrop serve stopped/);
  }, 120_000);

  it('obeys SIGTERM within its deadline while an extension that hides its progress runs', async () => {
    const extDir = join(home, 'hostile-ext');
    await mkdir(extDir, { recursive: true });
    await writeFile(
      join(extDir, 'hide-progress.js'),
      "Atomics.store = function () { return 0; };\nexport default { id: 'hostile.hide-progress', source_schemas: ['rd.msg.rfc822'], emits: ['rd.test.never'], handler() { while (true) {} } };\n",
    );
    const message = join(spamAssassinDir, 'hard-ham-1', '00001.7c7d6921e671bbe18ebb5f893cd9bb35.txt');
    const serve = await startServe('hostile', { RAINDROP_EXTENSIONS: extDir }, ['--import', message]);
    // Give the queue time to reach the extension's handler.
    await sleep(3_000);
    serve.child.kill('SIGTERM');
    // The extension is stopped at its CPU limit (5 s), so the queue finishes its batch and
    // serve stops cleanly, well within its shutdown grace of 20 s.
    const code = await exitWithin(serve, 18_000);
    expect(code, serve.stderr()).toBe(0);
  }, 120_000);
});
