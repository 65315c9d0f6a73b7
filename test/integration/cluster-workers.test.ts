/**
 * Scale-out on a real 3-node CouchDB cluster (issue 17): three `raindrop worker`
 * processes, each talking to a different node, process real mail; one is killed with
 * SIGKILL mid-batch, one is stopped (SIGSTOP) past its lease and continued, one is
 * drained, one is added; the final data (without the queue's bookkeeping) must equal a
 * single `raindrop process` run over the same mail, with no conflicting revisions.
 * Starts its own cluster (../shared/couchdb); skipped, with the reason printed, when the
 * CouchDB release is not there.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/core/entry-points.js';
import { type Couch, type Db, connectCouch, useDatabase } from '../../src/couch/connect.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { messageFiles, spamAssassinDir } from '../helpers/corpus.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { differingIds, userData } from '../helpers/user-data.js';

const run = promisify(execFile);
const release = join(projectRoot, '..', 'shared', 'couchdb');
const available = existsSync(join(release, 'couchdb-up')) && existsSync(join(release, 'apache-couchdb-3.5.0-debian12-amd64.tar.gz'));
if (!available) console.info(`cluster-workers: skipped, no CouchDB release at ${release} (see ../shared/couchdb/README.md)`);

// Short settings through options (a dead worker is noticed after lease + heartbeat = 5 s).
const timing = ['--heartbeat-ms', '1000', '--lease-ms', '4000'];
const partitions = 16;

let dir: string;
let ports: number[] = [];
let home: string;
let env: Record<string, string>;
let couch: Couch;
let work: Db;
let reference: Db;
let slices: string[][];
const workers = new Map<string, Worker>();

interface Worker {
  name: string;
  child: ChildProcess;
  id: string;
  stderr: string;
  exited: Promise<number | null>;
}

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
});

/** A base port P with P, P+10, P+20 free (and their cluster ports +1... left to chance). */
async function freeBase(): Promise<number> {
  for (let base = 6240; base < 6290; base += 1) if ((await Promise.all([0, 10, 20].map((d) => portFree(base + d)))).every(Boolean)) return base;
  throw new Error('no free ports for a test cluster');
}

const nodeUrl = (i: number) => `http://admin:admin@127.0.0.1:${ports[i]}`;
const args = (db: string, node = 0) => ['--couch', nodeUrl(node), '--db', db];

async function startWorker(name: string, node: number): Promise<Worker> {
  const child = startCli(['worker', '--json', '--verbose', ...timing, ...args(work.name, node)], { ...env, RAINDROP_LOG_LEVEL: 'info' });
  let stdout = '';
  const w: Worker = { name, child, id: '', stderr: '', exited: new Promise((r) => child.once('close', (code) => r(code))) };
  child.stderr?.on('data', (d: Buffer) => (w.stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  await until(() => /"worker"/.test(stdout) || child.exitCode !== null, 60_000, `worker ${name} to start`);
  w.id = (JSON.parse(stdout) as { worker: string }).worker;
  workers.set(name, w);
  return w;
}

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return Date.now() - started;
}

async function coordination(db: Db, kind: 'worker' | 'lease'): Promise<CouchDoc[]> {
  const all = (await db.scope.list({ startkey: `rk!${kind}!`, endkey: `rk!${kind}!\ufff0`, include_docs: true })) as unknown as { rows: Array<{ doc: CouchDoc }> };
  return all.rows.map((r) => r.doc);
}

/** Partitions by worker id, as the workers announce them (the aggregates lease, held by
 * one of them, counts as partition -1). */
async function held(): Promise<Map<string, number[]>> {
  return new Map((await coordination(work, 'worker')).map((d) => [d.worker as string, [...(d.partitions as number[]), ...((d.leases as string[]).includes('queue:aggregates') ? [-1] : [])]]));
}

const covers = (m: Map<string, number[]>, ids: string[]) => new Set(ids.flatMap((id) => m.get(id) ?? [])).size === partitions + 1;

/** Whether the leases of every partition and of the aggregates are held by these workers
 * (the moment of takeover; the announcements follow at the next heartbeat). */
async function leasesHeldBy(ids: string[]): Promise<boolean> {
  const leases = (await coordination(work, 'lease')).filter((l) => /^(?:partition:|queue:aggregates)/.test(l.name as string));
  return leases.length === partitions + 1 && leases.every((l) => ids.includes(l.owner as string));
}

async function conflicted(db: Db): Promise<string[]> {
  const all = (await db.scope.list({ include_docs: true, conflicts: true })) as unknown as { rows: Array<{ id: string; doc: CouchDoc & { _conflicts?: string[] } }> };
  return all.rows.filter((r) => (r.doc._conflicts?.length ?? 0) > 0).map((r) => r.id);
}

const slowExtension = `export default {
  id: 'test.slow',
  source_schemas: ['rd.msg.email'],
  category: 'extender',
  handler(doc) {
    let x = 0;
    for (let i = 0; i < 3e7; i++) x = (x + i * 7) % 1000003;
    if (x < 0) throw new Error('unreachable');
  },
};
`;

async function importSlice(db: string, files: string[]): Promise<void> {
  const r = await runCli(['import', ...files, ...args(db)], env);
  expect(r.code, r.stderr).toBe(0);
}

describe.skipIf(!available)('several workers on a CouchDB cluster', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'raindrop-cluster-'));
    home = await mkdtemp(join(tmpdir(), 'raindrop-cluster-home-'));
    env = { HOME: home, RAINDROP_CONFIG: join(home, 'none.json'), RAINDROP_DATA_DIR: join(home, 'data'), RAINDROP_LOG_LEVEL: 'error' };
    const base = await freeBase();
    ports = [base, base + 10, base + 20];
    await run(join(release, 'couchdb-up'), [join(dir, 'couch'), '--port', String(base), '--nodes', '3'], { timeout: 120_000 });
    couch = connectCouch(nodeUrl(0));
    const ham = (await messageFiles(spamAssassinDir)).filter((f) => f.includes('easy-ham-1'));
    slices = [ham.slice(0, 50), ham.slice(50, 100), ham.slice(100, 130)];
    expect((await runCli(['init', ...args('reference')], env)).code).toBe(0);
    reference = useDatabase(couch, 'reference');
    work = useDatabase(couch, 'work');
    // The single worker's run that the cluster must equal.
    await importSlice('reference', slices.flat());
    const single = await runCli(['process', ...args('reference')], env);
    expect([0, 1], single.stderr).toContain(single.code);
    // The workers also run an extension that emits nothing and spends ~0.1 s of CPU on
    // each message, so that a batch lasts long enough for a stop signal sent when it
    // begins to land inside it (a batch of one message otherwise ends within a few ms,
    // before the signal). It changes no data, so the reference does without it.
    const slow = join(home, 'slow-extension');
    await mkdir(slow);
    await writeFile(join(slow, 'slow.js'), slowExtension);
    expect((await runCli(['init', '--extensions', slow, ...args('work')], env)).code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    for (const w of workers.values()) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGCONT');
        w.child.kill('SIGKILL');
      }
      await w.exited;
    }
    if (dir) await run(join(release, 'couchdb-down'), [join(dir, 'couch')]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }, 60_000);

  it('three workers on three nodes share the partitions', async () => {
    const [a, b, c] = [await startWorker('a', 0), await startWorker('b', 1), await startWorker('c', 2)];
    await until(async () => {
      const m = await held();
      return covers(m, [a.id, b.id, c.id]) && [a, b, c].every((w) => (m.get(w.id)?.length ?? 0) > 0);
    }, 150_000, 'the three workers to share the 16 partitions');
  }, 200_000);

  it('a worker killed mid-batch: its partitions move within 15 s of its last heartbeat', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => workers.get(n) as Worker) as [Worker, Worker, Worker];
    await importSlice('work', slices[0] as string[]);
    const before = c.stderr.length;
    // Setup, not the promise under test (that is the 15 s below): on a 2-core machine
    // running other test files beside this one, c's first batch of new mail on the
    // cluster once took over 60 s to end.
    await until(() => /batch on partition:/.test(c.stderr.slice(before)), 150_000, 'c to work on the new mail');
    const lastHeartbeat = (await coordination(work, 'worker')).find((d) => d.worker === c.id)?.heartbeat as number;
    c.child.kill('SIGKILL');
    await c.exited;
    await until(() => leasesHeldBy([a.id, b.id]), 30_000, 'a and b to take over c\'s partitions');
    const movedAfter = Date.now() - lastHeartbeat;
    console.info(`cluster: the killed worker's partitions moved ${movedAfter} ms after its last heartbeat`);
    expect(movedAfter).toBeLessThan(15_000);
  }, 240_000);

  it('a worker stopped past its lease and continued: its late commit is refused', async () => {
    const a = workers.get('a') as Worker;
    const b = workers.get('b') as Worker;
    // Stopped in the middle of a batch (at the very line that says one begins): the
    // fence must refuse its writes when it goes on.
    const stopped = new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        if (!/working on \d+ changes for partition:/.test(d.toString())) return;
        b.child.kill('SIGSTOP');
        b.child.stderr?.off('data', onData);
        resolve();
      };
      b.child.stderr?.on('data', onData);
    });
    await importSlice('work', slices[1] as string[]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopped, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('b never started a batch of the new mail')), 60_000)))]);
    clearTimeout(timer);
    await until(async () => covers(await held(), [a.id]), 30_000, 'a to take every partition from the stopped b');
    b.child.kill('SIGCONT');
    // Continued, b finds its leases gone (at its fence, or first when it renews them): the
    // batch in hand writes no checkpoint.
    await until(() => /commit refused for partition:/.test(b.stderr), 90_000, 'b\'s late commit to be refused').catch((err: unknown) => {
      console.info(`b's log:\n${b.stderr.slice(-3000)}`);
      throw err;
    });
    expect(b.child.exitCode).toBeNull(); // it carries on and takes its share again
    await until(async () => ((await held()).get(b.id)?.length ?? 0) > 0, 30_000, 'b to take partitions again');
  }, 180_000);

  it('a drained worker finishes, releases its leases and exits; an added worker takes partitions', async () => {
    const a = workers.get('a') as Worker;
    const b = workers.get('b') as Worker;
    const drain = await runCli(['worker', '--drain', b.id, ...args('work', 1)], env);
    expect(drain.code, drain.stderr).toBe(0);
    expect(await b.exited).toBe(0);
    // Its announcement is gone (a read through another node may lag the delete a moment).
    await until(async () => !(await held()).has(b.id), 10_000, 'the drained b\'s announcement to be gone').catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; b's log:\n${b.stderr.slice(-3000)}`);
    });
    await until(async () => covers(await held(), [a.id]), 30_000, 'a to take every partition from the drained b');
    const d = await startWorker('d', 2);
    await until(async () => {
      const m = await held();
      return (m.get(d.id)?.length ?? 0) > 0 && (m.get(a.id)?.length ?? 0) < partitions + 1 && covers(m, [a.id, d.id]);
    }, 30_000, 'the added worker d to take its share from a');
  }, 120_000);

  it('the final data equals a single worker\'s run, with no conflicting revisions', async () => {
    await importSlice('work', slices[2] as string[]);
    const expected = await userData(reference);
    let got: Record<string, Record<string, unknown>> = {};
    let differing: string[] = [];
    // Alone this takes ~35 s; CI runs other test files on the same two cores, and once
    // needed more than 180 s (what differed then was not recorded: now it is, below).
    await until(async () => {
      got = await userData(work);
      differing = differingIds(expected, got);
      return differing.length === 0;
    }, 300_000, 'the cluster\'s data to equal the single run').catch(async (err: unknown) => {
      // In the error itself: CI shows the failure summary, not what the test printed.
      const lines = [`${(err as Error).message}; ${differing.length} documents differ`];
      for (const k of differing.slice(0, 3)) lines.push(`DIFF ${k} ${JSON.stringify(expected[k])?.slice(0, 600)}\n   GOT ${JSON.stringify(got[k])?.slice(0, 1500)}`);
      lines.push(`leases: ${(await coordination(work, 'lease')).map((l) => `${String(l.name)}=${String(l.owner)}@${String(l.expires)}`).join(' ')}`);
      for (const [name, w] of workers) lines.push(`worker ${name} (${w.id}, exit ${String(w.child.exitCode)}): ${w.stderr.split('\n').filter((l) => /fail|error|refused|removed|took|released|lost/i.test(l)).slice(-12).join('\n')}`);
      throw new Error(lines.join('\n'), { cause: err });
    });
    console.info(`cluster: ${Object.keys(got).length} documents equal to the single run`);
    expect(Object.keys(got).length).toBeGreaterThan(130 * 3);
    // A lease or heartbeat write racing through two nodes can leave a losing revision for
    // a moment; the workers remove those at their next heartbeat. Data conflicts would stay.
    await expect.poll(() => conflicted(work), { timeout: 10_000, interval: 1_000 }).toEqual([]);
  }, 360_000);

  it('SIGTERM: the workers exit 0, leave no worker document and release every lease', async () => {
    const a = workers.get('a') as Worker;
    const d = workers.get('d') as Worker;
    a.child.kill('SIGTERM');
    d.child.kill('SIGTERM');
    expect(await a.exited, a.stderr.slice(-2000)).toBe(0);
    expect(await d.exited, d.stderr.slice(-2000)).toBe(0);
    // The SIGKILLed worker's announcement stays (shown dead by status) until forgotten.
    expect((await coordination(work, 'worker')).filter((w) => w.worker === a.id || w.worker === d.id)).toEqual([]);
    // `_all_docs` on a cluster answers from one copy of each shard, which may lag the
    // quorum a release was written with by a moment: polled, as the conflicts above.
    const named = () => coordination(work, 'lease').then((all) => all.filter((l) => l.owner !== null));
    await expect.poll(named, { timeout: 5_000, interval: 500 }).toEqual([]).catch(async (err: unknown) => {
      const lines = [(err as Error).message];
      for (const lease of await named()) {
        const owner = [...workers.values()].find((w) => w.id === lease.owner);
        lines.push(`${String(lease.name)} still names ${String(lease.owner)} (worker ${owner?.name ?? '?'}); its lease lines:\n${(owner?.stderr ?? '').split('\n').filter((l) => l.includes(String(lease.name)) || /leav|releas|drain/i.test(l)).slice(-20).join('\n')}`);
      }
      throw new Error(lines.join('\n'), { cause: err });
    });
  }, 60_000);
});
