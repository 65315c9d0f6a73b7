/**
 * `npm run bench`: runs every benchmark against one server (the configured CouchDB, or
 * an embedded server in a temporary data dir), prints a table and writes
 * bench/results/<timestamp>.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { projectRoot } from '../src/core/entry-points.js';
import { openServer } from '../src/couch/open-server.js';
import { serverInfo } from '../src/couch/server-info.js';
import { couchCeilingBenchmark } from './couch-ceiling.bench.js';
import { type Measurement, formatTable } from './harness.js';
import { sandboxBenchmark } from './sandbox.bench.js';
import { queueBenchmark } from './queue.bench.js';
import { schemaBenchmark } from './schema.bench.js';
import { imapSyncBenchmark } from './imap-sync.bench.js';
import { mailCascadeBenchmark } from './mail-cascade.bench.js';
import { corpusCountsBenchmark } from './corpus-counts.js';
import { threadingCheckBenchmark } from './threading-check.js';
import { webAppBenchmark } from './web-app.bench.js';

const config = loadConfig();
/** The admin login in a --couch URL, for the benchmarks that log in like a browser. */
function loginFromUrl(url: string | undefined): { username: string; password: string } | undefined {
  if (!url) return undefined;
  const u = new URL(url);
  return u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : undefined;
}
const scratch = await mkdtemp(join(tmpdir(), 'raindrop-bench-'));
const server = await openServer({ couchUrl: config.couchUrl, dataDir: config.couchUrl ? config.dataDir : scratch, owner: 'command' });
try {
  const info = await serverInfo(server.couch);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`server: ${info.vendor} ${info.version} at ${server.couch.url} (${server.source}); node ${process.version}`);
  const results = new Map<string, Measurement>();
  // The sandbox benchmark needs no server; it runs after the ceilings so the machine is warm.
  const only = process.argv.slice(2);
  const all = [couchCeilingBenchmark(server.couch), sandboxBenchmark(), schemaBenchmark(), queueBenchmark(server.couch), imapSyncBenchmark(server.couch), mailCascadeBenchmark(server.couch), webAppBenchmark(server.couch, server.credentials ?? loginFromUrl(config.couchUrl))];
  // `npm run bench -- schema` runs the ceiling plus the named benchmarks only.
  // Run only when named (`npm run bench -- corpus-counts`): a survey of every corpus
  // through the CLI, many minutes long, not a throughput measurement.
  const onDemand = [corpusCountsBenchmark(), threadingCheckBenchmark(server.couch)];
  const chosen = only.length === 0 ? all : [...all, ...onDemand].filter((b) => b.name === 'couch-ceiling' || only.includes(b.name));
  for (const benchmark of chosen) {
    log(`running ${benchmark.name}`);
    for (const m of await benchmark.run({ results, log })) results.set(m.name, m);
  }
  const rows = [...results.values()];
  process.stdout.write(`${formatTable(rows)}\n`);
  const dir = join(projectRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, server: info, results: rows }, null, 2)}\n`);
  process.stdout.write(`results written to ${file}\n`);
} finally {
  await server.release();
  await rm(scratch, { recursive: true, force: true });
}
