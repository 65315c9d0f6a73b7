import { join } from 'node:path';
import { queueBenchLaneSetting, queueBenchSizesSetting } from '../src/config/index.js';
import { installExtensions } from '../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../src/cli/install-schemas.js';
import { projectRoot } from '../src/core/entry-points.js';
import { docIdFor, silentLogger, type RdKey } from '../src/core/index.js';
import { bulkGet } from '../src/couch/bulk-get.js';
import { bulkWrite } from '../src/couch/bulk-write.js';
import { callCouch, type Couch, type Db } from '../src/couch/connect.js';
import type { CouchDoc } from '../src/couch/documents.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../src/couch/push-design-docs.js';
import { applyItem } from '../src/couch/schema-items/merge.js';
import { isBookkeeping } from '../src/queue/provenance.js';
import type { RunReport } from '../src/queue/queue-runner.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import type { Benchmark, Measurement } from './harness.js';
import type { MemoryPeaks } from './memory-sampler.js';
import { catchUpEmptyDatabase, timedQueueRun } from './timed-queue-run.js';

/**
 * Issue 5 item 10: end-to-end throughput of the work queue on a realistic cascade of five
 * extensions (bench/queue-extensions) over N raw 2 KB text messages, in documents written
 * per second and as a ratio of the `_bulk_docs` ceiling of the same run, with the peak
 * memory of this process and of the sandbox's child process for each N (it should stay
 * flat as N grows: the queue holds one batch at a time).
 *
 * The extensions are installed and caught up before the raw documents arrive, so the
 * timed run is the steady state: new mail through the incoming lane. Environment knobs
 * (for profiling only): RAINDROP_BENCH_QUEUE_N=2000,5000 picks other sizes;
 * RAINDROP_BENCH_QUEUE_LANE=backlog times a first install instead (every extension new,
 * replaying the raw documents in the backlog lane, then the stale-output sweep).
 */
const sizes = [10_000, 50_000];
const rawBytes = 2048;
/** Raw documents per `_bulk_docs` request while loading (the ceiling's batch size). */
const loadChunk = 500;
const senders = 211;
const benchExtensions = join(projectRoot, 'bench', 'queue-extensions');
const benchSchemas = join(projectRoot, 'bench', 'queue-schemas');
const rawSchema = 'rd.bench.raw';
const extensionCount = 5;

// ---------------------------------------------------------------------------------------
// Deterministic input: ~2 KB RFC 822-style text messages.

const vocabulary = [
  'meeting', 'tomorrow', 'the', 'report', 'attached', 'please', 'review', 'and', 'thanks', 'regards', 'budget',
  'quarter', 'draft', 'of', 'schedule', 'project', 'update', 'team', 'deadline', 'notes', 'we', 'should', 'discuss',
  'proposal', 'customer', 'release', 'numbers', 'for', 'next', 'week', 'on', 'friday', 'agenda', 'follow', 'up',
];

interface RawSpec {
  key: RdKey;
  text: string;
  /** What the cascade must find, for the spot checks. */
  sender: string;
  subject: string;
  links: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8;
}

const linksOf = (i: number) => i % 4;

export function rawMessage(i: number): RawSpec {
  const next = lcg(i + 1);
  const word = () => vocabulary[next() % vocabulary.length] as string;
  const s = i % senders;
  const reply = i % 3 === 0 && i > 0;
  const subject = `${reply ? 'Re: ' : ''}Weekly ${word()} ${word()} #${i}`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const headers = [
    `Message-ID: <bench-${i}@bench.example>`,
    `Date: ${['Mon', 'Tue', 'Wed', 'Thu', 'Fri'][i % 5]}, ${pad((i % 28) + 1)} Nov 2026 ${pad(i % 24)}:${pad(i % 60)}:${pad((i * 7) % 60)} +0000`,
    `From: "Sender ${s}" <Sender${s}@Dom${s % 13}.Example>`,
    `To: "Me" <me@example.org>, "Team ${i % 7}" <team${i % 7}@example.org>`,
    `Subject: ${subject}`,
    ...(reply ? [`In-Reply-To: <bench-${i - 1}@bench.example>`] : []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    `X-Mailer: bench-generator`,
    '\tversion 1',
  ];
  const urls = Array.from({ length: linksOf(i) }, (_, k) => `https://site${(i * 7 + k) % 50}.example/path/${i}/${k}?ref=mail`);
  const lines: string[] = [];
  let length = headers.join('\r\n').length + 4;
  let linkAt = 0;
  while (length < rawBytes - 80) {
    const words: string[] = [];
    for (let len = 0; len < 60; len += (words.at(-1)?.length ?? 0) + 1) words.push(word());
    // Links go in the first lines; the first one appears twice (links dedupes).
    if (linkAt < urls.length) words.push(urls[linkAt++] as string);
    else if (linkAt === urls.length && urls.length > 0) (words.push(`(again: ${urls[0]}).`), linkAt++);
    const line = words.join(' ');
    lines.push(line);
    length += line.length + 2;
  }
  lines.push('', `-- `, `Sender ${s}`);
  const text = `${headers.join('\r\n')}\r\n\r\n${lines.join('\r\n')}`;
  return { key: ['email', `bench-${i}@bench.example`], text, sender: `sender${s}@dom${s % 13}.example`, subject, links: urls.length };
}

function rawDoc(spec: RawSpec): CouchDoc {
  return applyItem(undefined, { key: spec.key, schemaId: rawSchema, schemaVersion: 1, writer: 'fetch.bench', category: 'provider', source: null, fields: { text: spec.text } }).doc;
}


const mb = (bytes: number) => bytes / (1024 * 1024);

// ---------------------------------------------------------------------------------------
// Verification: counts per schema, provenance, spot checks.

/** Counts every document id by schema (the id ends in `!<schema>`) and bookkeeping (`rb!`). */
async function countIds(db: Db): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let startkey: string | undefined;
  for (;;) {
    // nano encodes startkey itself; the id after the last counted one starts the next page.
    const page = (await callCouch(db.couch, 'listing document ids', () =>
      db.scope.list({ limit: 10_001, ...(startkey === undefined ? {} : { startkey }) }),
    )) as unknown as { rows: Array<{ id: string }> };
    const rows = page.rows.slice(0, 10_000);
    for (const { id } of rows) {
      const kind = id.startsWith('_design/') ? 'design' : isBookkeeping(id) ? 'bookkeeping' : id.slice(id.lastIndexOf('!') + 1);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    const next = page.rows[10_000]?.id;
    if (next === undefined) return counts;
    if (next === startkey) throw new Error(`listing ids did not advance past ${startkey}`);
    startkey = next;
  }
}

async function verify(db: Db, n: number, report: RunReport): Promise<{ outputs: number; provenance: number }> {
  const problems: string[] = [];
  if (report.failed > 0) problems.push(`${report.failed} documents failed`);
  let links = 0;
  const sendersSeen = new Set<string>();
  for (let i = 0; i < n; i++) {
    links += linksOf(i);
    sendersSeen.add(String(i % senders));
  }
  const expected: Record<string, number> = {
    [rawSchema]: n,
    'rd.bench.message': n,
    'rd.bench.body': n,
    'rd.bench.link': links,
    'rd.bench.contact': sendersSeen.size,
    // The provenance of raw (parse), message (body, flags, links) and body (sender): all
    // three share the message's key, so one bookkeeping document each.
    bookkeeping: n,
  };
  const counts = await countIds(db);
  for (const [kind, count] of Object.entries(expected)) {
    if (counts.get(kind) !== count) problems.push(`${kind}: ${counts.get(kind) ?? 0} documents, expected ${count}`);
  }
  if (counts.get('rd.core.error')) problems.push(`${counts.get('rd.core.error')} rd.core.error documents`);
  // Spot checks: the cascade computed the right things, not merely the right number of things.
  const picks = [0, 1, 3, n - 1, Math.floor(n / 2)].map(rawMessage);
  const ids = picks.flatMap((p) => [docIdFor(p.key, 'rd.bench.message'), docIdFor(p.key, 'rd.bench.body'), docIdFor(['identity', p.sender], 'rd.bench.contact')]);
  const docs = await bulkGet(db, ids);
  for (const p of picks) {
    const message = docs.get(docIdFor(p.key, 'rd.bench.message'));
    const body = docs.get(docIdFor(p.key, 'rd.bench.body'));
    const contact = docs.get(docIdFor(['identity', p.sender], 'rd.bench.contact'));
    const text = p.text.slice(p.text.indexOf('\r\n\r\n') + 4).replace(/\r\n/g, '\n').trim();
    const words = text.split(/\s+/).filter((w) => w.length > 0).length;
    if ((message?.from as { address?: string } | undefined)?.address !== p.sender || message?.subject !== p.subject) problems.push(`${p.key[1]}: message ${JSON.stringify(message?.from)} / ${String(message?.subject)}`);
    if (body?.words !== words || body.has_links !== p.links > 0 || body.rd_schema_provider !== 'bench.body' || !body.rd_schema_items || Object.keys(body.rd_schema_items).length !== 2) problems.push(`${p.key[1]}: body ${JSON.stringify(body && { words: body.words, has_links: body.has_links })}, expected ${words} words`);
    if (contact?.domain !== p.sender.split('@')[1]) problems.push(`${p.sender}: contact ${JSON.stringify(contact?.domain)}`);
  }
  const finalDocs = Object.entries(expected).reduce((sum, [kind, count]) => (kind === rawSchema ? sum : sum + count), 0);
  // Every derived document was created by this run, so each was written at least once.
  if (report.written < finalDocs) problems.push(`the run reports ${report.written} documents written, fewer than the ${finalDocs} it created`);
  if (problems.length > 0) throw new Error(`the queue benchmark's output is wrong (N = ${n}): ${problems.join('; ')}`);
  const outputs = Object.entries(expected).reduce((sum, [kind, count]) => (kind === rawSchema || kind === 'bookkeeping' ? sum : sum + count), 0);
  return { outputs, provenance: expected.bookkeeping as number };
}

// ---------------------------------------------------------------------------------------

async function prepare(db: Db): Promise<SchemaRegistry> {
  await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  for (const dir of [builtInSchemaDir(), benchSchemas]) {
    const installed = await installSchemas(db, dir);
    if (installed.refused.length > 0) throw new Error(`schemas refused: ${JSON.stringify(installed.refused)}`);
  }
  const registry = await SchemaRegistry.load(db);
  const extensions = await installExtensions(registry, db, [benchExtensions], silentLogger);
  if (extensions.refused.length > 0 || extensions.installed.length !== extensionCount) {
    await registry.close();
    throw new Error(`extensions: installed ${extensions.installed.length} of ${extensionCount}; refused ${JSON.stringify(extensions.refused)}`);
  }
  return registry;
}

/** Writes N raw documents; returns the seconds spent in `_bulk_docs` alone. */
async function loadRaw(db: Db, n: number): Promise<number> {
  let seconds = 0;
  for (let start = 0; start < n; start += loadChunk) {
    const docs = Array.from({ length: Math.min(loadChunk, n - start) }, (_, k) => rawDoc(rawMessage(start + k)));
    const t0 = performance.now();
    const results = await bulkWrite(db, docs);
    seconds += (performance.now() - t0) / 1000;
    if (results.some((r) => !r.ok)) throw new Error('a raw document could not be written');
  }
  return seconds;
}

export function queueBenchmark(couch: Couch): Benchmark {
  return {
    name: 'queue',
    async run(ctx) {
      const ceiling = ctx.results.get('couch.bulk_docs.write');
      const results: Measurement[] = [];
      const peaksByN = new Map<number, MemoryPeaks>();
      const only = queueBenchSizesSetting();
      const lane = queueBenchLaneSetting();
      for (const n of only ?? sizes) {
        const label = n >= 1000 ? `${n / 1000}k` : String(n);
        const name = `bench_queue_${label}_${Date.now()}`;
        const { db } = await ensureDatabase(couch, name);
        let registry: SchemaRegistry | undefined;
        try {
          registry = await prepare(db);
          if (lane === 'incoming') {
            await catchUpEmptyDatabase(db, registry);
          }
          const loadSeconds = await loadRaw(db, n);
          ctx.log(`N=${label}: ${n} raw documents written at ${Math.round(n / loadSeconds)} docs/s`);

          const { report, seconds, peaks } = await timedQueueRun(db, registry, (line) => ctx.log(`N=${label}: ${line}`));
          peaksByN.set(n, peaks);
          const { outputs, provenance } = await verify(db, n, report);
          const rate = report.written / seconds;
          ctx.log(
            `N=${label}: ${report.written} documents written in ${seconds.toFixed(1)} s (${Math.round(rate)}/s); ${report.batches} batches, ${report.ran} runs, ${report.skipped} skipped; ` +
              `final state ${outputs} outputs + ${provenance} bookkeeping; peak RSS ${mb(peaks.rss).toFixed(0)} MB, sandbox ${mb(peaks.sandboxHwm).toFixed(0)} MB, server ${mb(peaks.serverRss).toFixed(0)} MB`,
          );
          const notes = `${lane} lane; ${n} raw × ${rawBytes} B, ${extensionCount} extensions; ${report.written} docs (≥ ${outputs} outputs + ${provenance} bookkeeping) in ${seconds.toFixed(1)} s`;
          results.push({ name: `queue.cascade.${label}.written`, value: rate, unit: 'docs/s', notes });
          if (ceiling) results.push({ name: `queue.cascade.${label}.vs-write-ceiling`, value: rate / ceiling.value, unit: '×', ratioOf: ceiling.name, notes: 'target ≥ 0.60' });
          results.push({ name: `queue.cascade.${label}.raw-messages`, value: n / seconds, unit: 'msgs/s', notes: 'raw messages through the whole cascade' });
          results.push({ name: `queue.cascade.${label}.raw-load`, value: n / loadSeconds, unit: 'docs/s', notes: `loading the raw documents (not in the above), batches of ${loadChunk}` });
          results.push({ name: `queue.cascade.${label}.rss.peak`, value: mb(peaks.rss), unit: 'MB', notes: `this process; heap used peak ${mb(peaks.heapUsed).toFixed(0)} MB; ${peaks.samples} samples` });
          if (peaks.sandboxHwm > 0) results.push({ name: `queue.cascade.${label}.sandbox-rss.peak`, value: mb(peaks.sandboxHwm), unit: 'MB', notes: 'sandbox child process (VmHWM)' });
          if (peaks.serverRss > 0) results.push({ name: `queue.cascade.${label}.server-rss.peak`, value: mb(peaks.serverRss), unit: 'MB', notes: 'embedded server process (sampled VmRSS)' });
        } finally {
          await registry?.close();
          await destroyDatabase(couch, name);
        }
      }
      const [small, large] = [...peaksByN.entries()].sort(([a], [b]) => a - b);
      if (small && large && small[0] !== large[0]) {
        const ratio = `${large[0] / 1000}k / ${small[0] / 1000}k`;
        results.push({ name: 'queue.cascade.rss.growth', value: large[1].rss / small[1].rss, unit: '×', notes: `peak RSS of this process, ${ratio} (flat ≈ 1)` });
        if (small[1].sandboxHwm > 0 && large[1].sandboxHwm > 0) {
          results.push({ name: 'queue.cascade.sandbox-rss.growth', value: large[1].sandboxHwm / small[1].sandboxHwm, unit: '×', notes: `peak RSS of the sandbox child, ${ratio} (flat ≈ 1)` });
        }
      }
      return results;
    },
  };
}
