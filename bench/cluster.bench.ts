/**
 * Scale-out (issue 17): messages per second through the whole mail cascade with 1, 2 and
 * 3 `raindrop worker` processes, against a 3-node CouchDB cluster and against a single
 * node, each beside the `_bulk_docs` write ceiling of that server and the single-process
 * `raindrop process` on the same mail, in one run. The servers are started here from the
 * Apache CouchDB release (RAINDROP_COUCHDB_RELEASE, default ../shared/couchdb) on free
 * loopback ports and stopped at the end; without the release the benchmark says so and
 * measures nothing.
 *
 * Each run: a fresh database set up by "raindrop init"; the workers started (worker i
 * talks to node i mod nodes) and holding all 16 partitions; then the clock starts,
 * "raindrop import" stores the messages (SpamAssassin easy-ham, RAINDROP_BENCH_CLUSTER_N,
 * default 200), and the clock stops when every partition and the aggregates show no
 * changes left (twice in a row, a second apart). All processes share this machine's
 * cores, so the numbers say how the work divides, not what N machines would do.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterStatus } from '../src/cluster/cluster-status.js';
import { clusterBenchMessagesSetting, couchdbReleaseSetting } from '../src/config/index.js';
import { connectCouch, useDatabase } from '../src/couch/connect.js';
import { databaseInfo } from '../src/couch/database-info.js';
import { messageFiles, spamAssassinDir } from '../test/helpers/corpus.js';
import { runCli, startCli } from '../test/helpers/run-cli.js';
import { couchCeilingBenchmark } from './couch-ceiling.bench.js';
import type { Benchmark, BenchContext, Measurement } from './harness.js';

const run = promisify(execFile);
const workerCounts = [1, 2, 3];

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
});

/** A base port with base, +10, +20 free (couchdb-up puts node i on base + 10(i - 1)). */
async function freeBase(from: number): Promise<number> {
  for (let base = from; base < from + 200; base++) if ((await Promise.all([0, 10, 20].map((d) => portFree(base + d)))).every(Boolean)) return base;
  throw new Error('no free loopback ports for the benchmark\'s CouchDB');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Setup { name: string; nodes: number; urls: string[] }

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`cluster benchmark: timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

export function clusterBenchmark(): Benchmark {
  return {
    name: 'cluster',
    async run(ctx: BenchContext): Promise<Measurement[]> {
      const release = couchdbReleaseSetting();
      if (!existsSync(join(release, 'couchdb-up'))) {
        ctx.log(`cluster: skipped, no couchdb-up in ${release} (RAINDROP_COUCHDB_RELEASE)`);
        return [];
      }
      const count = clusterBenchMessagesSetting();
      const files = (await messageFiles(spamAssassinDir)).filter((f) => f.includes('easy-ham')).slice(0, count);
      const dir = await mkdtemp(join(tmpdir(), 'raindrop-bench-cluster-'));
      const env = { HOME: dir, RAINDROP_CONFIG: join(dir, 'none.json'), RAINDROP_DATA_DIR: join(dir, 'data'), RAINDROP_LOG_LEVEL: 'error' };
      const out: Measurement[] = [];
      try {
        for (const nodes of [1, 3]) {
          const base = await freeBase(26100);
          const home = join(dir, `couch-${nodes}`);
          await run(join(release, 'couchdb-up'), [home, '--port', String(base), ...(nodes > 1 ? ['--nodes', String(nodes)] : [])], { timeout: 180_000 });
          const setup: Setup = { name: nodes > 1 ? `cluster${nodes}` : 'single', nodes, urls: Array.from({ length: nodes }, (_, i) => `http://admin:admin@127.0.0.1:${base + 10 * i}`) };
          try {
            out.push(...(await measureSetup(ctx, setup, files, env)));
          } finally {
            await run(join(release, 'couchdb-down'), [home], { timeout: 60_000 }).catch(() => undefined);
          }
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return out;
    },
  };
}

async function measureSetup(ctx: BenchContext, setup: Setup, files: string[], env: Record<string, string>): Promise<Measurement[]> {
  const first = setup.urls[0] as string;
  const couch = connectCouch(first);
  const prefix = `cluster.${setup.name}`;
  const ceiling = (await couchCeilingBenchmark(couch, `${prefix}.couch`, setup.name).run(ctx)).find((m) => m.name.endsWith('bulk_docs.write'));
  const out: Measurement[] = ceiling ? [ceiling] : [];
  const args = (db: string, node = 0) => ['--couch', setup.urls[node % setup.nodes] as string, '--db', db];
  const rate = (name: string, seconds: number, docs: number, notes: string): Measurement[] => {
    const m: Measurement[] = [{ name, value: files.length / seconds, unit: 'msgs/s', notes: `${files.length} messages in ${seconds.toFixed(1)} s; ${notes}` }];
    if (ceiling) m.push({ name: `${name}.vs-ceiling`, value: docs / seconds / ceiling.value, unit: 'ratio', ratioOf: ceiling.name, notes: `${Math.round(docs / seconds)} docs/s written` });
    return m;
  };

  // The single-process queue on the same server: what the workers are compared with.
  {
    const db = 'bench_process';
    await cli(['init', ...args(db)], env);
    await cli(['import', ...files, ...args(db)], env);
    const started = performance.now();
    const r = await runCli(['process', ...args(db)], env);
    if (r.code !== 0 && r.code !== 1) throw new Error(`raindrop process failed: ${r.stderr.slice(-500)}`);
    const seconds = (performance.now() - started) / 1000;
    const docs = (await databaseInfo(useDatabase(couch, db)))?.docCount ?? 0;
    ctx.log(`${prefix}: raindrop process ${seconds.toFixed(1)} s`);
    out.push(...rate(`${prefix}.process`, seconds, docs, 'raindrop process, import not timed'));
  }

  for (const n of workerCounts) {
    const db = `bench_workers_${n}`;
    await cli(['init', ...args(db)], env);
    const workers: ChildProcess[] = [];
    try {
      for (let i = 0; i < n; i++) workers.push(startCli(['worker', ...args(db, i)], env));
      const status = () => clusterStatus(useDatabase(couch, db));
      await waitFor(async () => {
        const s = await status();
        return (s?.workers.filter((w) => w.state === 'live').length ?? 0) === n && (s?.units.filter((u) => u.unit.startsWith('partition:') && u.owner !== null).length ?? 0) === 16;
      }, 120_000, `${n} workers to hold the partitions`);
      const started = performance.now();
      await cli(['import', ...files, ...args(db)], env);
      let quiet = 0;
      let endedAt = 0;
      await waitFor(async () => {
        const s = await status();
        quiet = s && s.units.length > 0 && s.units.every((u) => u.lag === 0 && !u.lagAtLeast) ? quiet + 1 : 0;
        if (quiet === 1) endedAt = performance.now();
        if (quiet === 0) await sleep(250);
        else await sleep(1000);
        return quiet >= 2;
      }, 30 * 60_000, `${n} workers to finish`);
      const seconds = (endedAt - started) / 1000;
      const docs = (await databaseInfo(useDatabase(couch, db)))?.docCount ?? 0;
      ctx.log(`${prefix}: ${n} worker(s) ${seconds.toFixed(1)} s`);
      out.push(...rate(`${prefix}.workers-${n}`, seconds, docs, `import timed too; ${n} worker(s) on ${Math.min(n, setup.nodes)} node(s)`));
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => (w.exitCode === null ? new Promise((r) => w.once('close', r)) : undefined)));
    }
  }
  return out;
}

async function cli(args: string[], env: Record<string, string>): Promise<void> {
  const r = await runCli(args, env);
  if (r.code !== 0) throw new Error(`raindrop ${args[0]} failed (${r.code}): ${r.stderr.slice(-500)}`);
}
