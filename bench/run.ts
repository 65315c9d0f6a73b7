/**
 * `npm run bench`: runs every benchmark against one server (the configured CouchDB,
 * `RAINDROP_COUCH_URL` or `--couch`, else an embedded server in a temporary data dir),
 * prints a table and writes bench/results/<timestamp>.json. With a CouchDB configured,
 * the ceilings are measured on an embedded server too, in the same run, and printed
 * side by side.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { projectRoot } from '../src/core/entry-points.js';
import { openServer } from '../src/couch/open-server.js';
import { serverInfo } from '../src/couch/server-info.js';
import { couchCeilingBenchmark } from './couch-ceiling.bench.js';
import { type Measurement, formatCeilings, formatTable, serverLabel } from './harness.js';
import { sandboxBenchmark } from './sandbox.bench.js';
import { queueBenchmark } from './queue.bench.js';
import { schemaBenchmark } from './schema.bench.js';
import { imapSyncBenchmark } from './imap-sync.bench.js';
import { mailMemoryBenchmark } from './mail-memory.bench.js';
import { mailCascadeBenchmark } from './mail-cascade.bench.js';
import { peersBenchmark } from './peers.bench.js';
import { corpusCountsBenchmark } from './corpus-counts.js';
import { threadingCheckBenchmark } from './threading-check.js';
import { statusCountsBenchmark } from './status-counts.bench.js';
import { smtpSendBenchmark } from './smtp-send.bench.js';
import { webAppBenchmark } from './web-app.bench.js';
import { searchBenchmark } from './search.bench.js';
import { clusterBenchmark } from './cluster.bench.js';

const config = loadConfig();
/** The admin login in a --couch URL, for the benchmarks that log in like a browser. */
function loginFromUrl(url: string | undefined): { username: string; password: string } | undefined {
  if (!url) return undefined;
  const u = new URL(url);
  return u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : undefined;
}
const scratch = await mkdtemp(join(tmpdir(), 'raindrop-bench-'));
const server = await openServer({ couchUrl: config.couchUrl, dataDir: config.couchUrl ? config.dataDir : scratch, owner: 'command' });
// The embedded server beside a configured CouchDB, for the ceilings only.
const embedded = config.couchUrl ? await openServer({ couchUrl: undefined, dataDir: scratch, owner: 'command' }) : undefined;
try {
  const info = await serverInfo(server.couch);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const label = serverLabel(info);
  log(`server: ${label} at ${server.couch.url} (${server.source}); node ${process.version}`);
  const results = new Map<string, Measurement>();
  const ceilingServers = [{ prefix: 'couch', label }];
  if (embedded) {
    const embeddedInfo = await serverInfo(embedded.couch);
    const embeddedLabel = serverLabel(embeddedInfo);
    log(`second server for the ceilings: ${embeddedLabel} at ${embedded.couch.url}`);
    for (const m of await couchCeilingBenchmark(embedded.couch, 'embedded', embeddedLabel).run({ results, log })) results.set(m.name, m);
    ceilingServers.push({ prefix: 'embedded', label: embeddedLabel });
  }
  // The sandbox benchmark needs no server; it runs after the ceilings so the machine is warm.
  const only = process.argv.slice(2);
  const all = [couchCeilingBenchmark(server.couch, 'couch', label), sandboxBenchmark(), schemaBenchmark(), queueBenchmark(server.couch), imapSyncBenchmark(server.couch), mailCascadeBenchmark(server.couch), peersBenchmark(), statusCountsBenchmark(server.couch), smtpSendBenchmark(server.couch), webAppBenchmark(server.couch, server.credentials ?? loginFromUrl(config.couchUrl)), searchBenchmark(server.couch), clusterBenchmark()];
  // `npm run bench -- schema` runs the ceiling plus the named benchmarks only.
  // Run only when named (`npm run bench -- corpus-counts`): a survey of every corpus
  // through the CLI, many minutes long, not a throughput measurement.
  const onDemand = [corpusCountsBenchmark(), threadingCheckBenchmark(server.couch), mailMemoryBenchmark(server.couch)];
  // `peers` compares with the mail cascade of the same run, so naming it runs that too.
  const named = only.includes('peers') ? [...only, 'mail-cascade'] : only;
  const chosen = only.length === 0 ? all : [...all, ...onDemand].filter((b) => b.name === 'couch-ceiling' || named.includes(b.name));
  for (const benchmark of chosen) {
    log(`running ${benchmark.name}`);
    for (const m of await benchmark.run({ results, log })) results.set(m.name, m);
  }
  const rows = [...results.values()];
  process.stdout.write(`${formatTable(rows)}\n`);
  if (ceilingServers.length > 1) process.stdout.write(`\n${formatCeilings(rows, ceilingServers)}\n`);
  const dir = join(projectRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, server: info, results: rows }, null, 2)}\n`);
  process.stdout.write(`results written to ${file}\n`);
} finally {
  await embedded?.release();
  await server.release();
  await rm(scratch, { recursive: true, force: true });
}
