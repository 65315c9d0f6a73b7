import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { installDatabase } from '../src/cli/install.js';
import { cascadeMessagesSetting, corpusDirSetting } from '../src/config/index.js';
import { silentLogger } from '../src/core/index.js';
import { callCouch, type Couch, type Db, useDatabase } from '../src/couch/connect.js';
import { destroyDatabase } from '../src/couch/ensure-database.js';
import { importLimits } from '../src/protocols/import/limits.js';
import { type RawMessage, storeRawMessages } from '../src/protocols/store-raw.js';
import { listErrors } from '../src/queue/maintenance.js';
import { isBookkeeping } from '../src/queue/provenance.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import { messageFiles, openCorpus } from '../test/helpers/corpus.js';
import { bookkeepingKinds } from './bookkeeping-kinds.js';
import type { Benchmark, Measurement } from './harness.js';
import { catchUpEmptyDatabase, timedQueueRun } from './timed-queue-run.js';

/**
 * The whole mail cascade (every extension in extensions/, whatever it holds when this
 * runs) over real mail: the openwrt-devel list archive (7,229 .eml files, from the
 * corpus directory setting RAINDROP_CORPUS_DIR, default ../shared/corpus). Reports
 * messages and documents written per second from raw items to summaries, the ratio to
 * the `_bulk_docs` ceiling of the same run, peak memory of this process, the sandbox
 * child and the server, and the slowest extension with its share of extension time.
 *
 * As in the queue benchmark, the extensions are installed and caught up on the empty
 * database before the mail arrives, so the timed run is new mail in the incoming lane.
 * The raw items are loaded with storeRawMessages, as `raindrop import` does, and that
 * load is timed separately. RAINDROP_BENCH_MAIL_N=500 takes only the first 500 files
 * (archive order) for a quick run.
 */
export const cascadeCorpusName = 'openwrt-devel';
const corpusName = cascadeCorpusName;

/** RAINDROP_BENCH_MAIL_N: how many files of the corpus to take (all when unset). */
export function cascadeLimit(): number | undefined {
  return cascadeMessagesSetting();
}


const mb = (bytes: number) => bytes / (1024 * 1024);

// ---------------------------------------------------------------------------------------

/** Documents by schema (the id ends in `!<schema>`), the queue's bookkeeping (provenance and dependents, `rb!`) and design docs. */
export async function countIds(db: Db): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let startkey: string | undefined;
  for (;;) {
    const page = (await callCouch(db.couch, 'listing document ids', () =>
      db.scope.list({ limit: 10_001, ...(startkey === undefined ? {} : { startkey }) }),
    )) as unknown as { rows: Array<{ id: string }> };
    for (const { id } of page.rows.slice(0, 10_000)) {
      const kind = id.startsWith('_design/') ? 'design' : isBookkeeping(id) ? 'bookkeeping' : id.slice(id.lastIndexOf('!') + 1);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    const next = page.rows[10_000]?.id;
    if (next === undefined) return counts;
    if (next === startkey) throw new Error(`listing ids did not advance past ${startkey}`);
    startkey = next;
  }
}

/** What `raindrop import` does to a single file: an mbox "From " envelope line in front
 * of one message is not part of it. */
export function stripFromLine(bytes: Buffer): Buffer {
  if (bytes.toString('latin1', 0, 5) !== 'From ') return bytes;
  const nl = bytes.indexOf(10);
  return nl < 0 ? bytes : bytes.subarray(nl + 1);
}

interface LoadResult {
  seconds: number;
  stored: number;
  duplicate: number;
  refused: number;
  bytes: number;
}

/** Stores the files as raw items in import-sized batches; times the store calls only. */
export async function loadRaw(registry: SchemaRegistry, db: Db, files: readonly string[]): Promise<LoadResult> {
  const result: LoadResult = { seconds: 0, stored: 0, duplicate: 0, refused: 0, bytes: 0 };
  let batch: RawMessage[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const t0 = performance.now();
    const stored = await storeRawMessages(registry, db, batch);
    result.seconds += (performance.now() - t0) / 1000;
    for (const s of stored) result[s.outcome === 'stored' ? 'stored' : s.outcome === 'duplicate' ? 'duplicate' : 'refused']++;
    batch = [];
    batchBytes = 0;
  };
  for (const file of files) {
    const bytes = stripFromLine(await readFile(file));
    result.bytes += bytes.length;
    batch.push({ bytes, receivedFrom: 'import:eml' });
    batchBytes += bytes.length;
    if (batch.length >= importLimits.batchMessages || batchBytes >= importLimits.batchBytes) await flush();
  }
  await flush();
  return result;
}

export function mailCascadeBenchmark(couch: Couch): Benchmark {
  return {
    name: 'mail-cascade',
    async run(ctx) {
      const ceiling = ctx.results.get('couch.bulk_docs.write');
      const limit = cascadeLimit();
      const corpus = await openCorpus(corpusDirSetting());
      const name = `bench_mail_${Date.now()}`;
      let registry: SchemaRegistry | undefined;
      try {
        const all = await messageFiles(await corpus.unpack(corpusName));
        const files = limit === undefined ? all : all.slice(0, limit);
        const label = limit === undefined ? 'all' : String(files.length);
        const install = await installDatabase(couch, name, [], silentLogger);
        if (install.extensions.refused.length > 0) ctx.log(`extensions refused (not in the run): ${JSON.stringify(install.extensions.refused)}`);
        const extensionIds = install.extensions.installed.map((e) => e.id);
        ctx.log(`${extensionIds.length} extensions: ${extensionIds.join(', ')}`);
        const db = useDatabase(couch, name);
        registry = await SchemaRegistry.load(db);
        await catchUpEmptyDatabase(db, registry);
        const load = await loadRaw(registry, db, files);
        ctx.log(`${corpusName}: ${files.length} files, ${load.stored} raw stored, ${load.duplicate} duplicates, ${load.refused} refused (${mb(load.bytes).toFixed(1)} MB) at ${Math.round(load.stored / load.seconds)} msgs/s`);

        const { report, seconds, peaks, restarts, extensionMs, phases, feed } = await timedQueueRun(db, registry, ctx.log);
        const counts = await countIds(db);
        const count = (schema: string) => counts.get(schema) ?? 0;
        const derived = [...counts.entries()].filter(([k]) => !['design', 'bookkeeping', 'rd.msg.rfc822', 'rd.core.schema', 'rd.ext.workqueue', 'rd.core.workqueue-state'].includes(k)).sort(([a], [b]) => (a < b ? -1 : 1));
        ctx.log(`${report.written} documents written in ${seconds.toFixed(1)} s; ${report.batches} batches, ${report.ran} runs, ${report.skipped} skipped, ${report.failed} failed; sandbox restarts ${restarts}; feed rows ${feed.rows}, of them passed over unread as the echoes of the queue's own settled writes ${feed.passedOver}`);
        ctx.log(`documents: ${derived.map(([k, v]) => `${k} ${v}`).join(', ')}; bookkeeping ${count('bookkeeping')}`);
        const kinds = [...(await bookkeepingKinds(db)).entries()].sort(([, a], [, b]) => b.count - a.count);
        ctx.log(`bookkeeping by key type and content (count, per message, mean and largest size, longest dependents list): ${kinds.map(([k, v]) => `${k}: ${v.count}, ${(v.count / Math.max(1, load.stored)).toFixed(2)}/msg, ${Math.round(v.bytes / v.count)} B mean, ${v.maxBytes} B max, ${v.maxDependents} dependents max`).join('; ')}`);
        // Which extension failed how: a benchmark over failing runs measures the wrong thing.
        const failures = new Map<string, number>();
        for (const e of await listErrors(db)) failures.set(`${e.extension} ${e.kind}`, (failures.get(`${e.extension} ${e.kind}`) ?? 0) + 1);
        if (failures.size > 0) ctx.log(`errors: ${[...failures.entries()].map(([k, v]) => `${k} × ${v}`).join(', ')}`);
        const totalMs = [...extensionMs.values()].reduce((a, b) => a + b, 0);
        const byTime = [...extensionMs.entries()].sort(([, a], [, b]) => b - a);
        ctx.log(`extension time (${(totalMs / 1000).toFixed(1)} s, overlapping, of ${seconds.toFixed(1)} s): ${byTime.map(([id, ms]) => `${id} ${(ms / 1000).toFixed(1)} s (${((100 * ms) / totalMs).toFixed(0)}%)`).join(', ')}`);
        // Where the rest goes: on CouchDB most of a run is outside the extensions' steps.
        const rest = seconds * 1000 - phases.stepsMs - phases.dependentsMs - phases.commitMs;
        const parts = `extension steps ${(phases.stepsMs / 1000).toFixed(1)} s (unrelated extensions side by side), commits ${(phases.commitMs / 1000).toFixed(1)} s, dependents ${(phases.dependentsMs / 1000).toFixed(1)} s, the rest (feed reads, checkpoints) ${(rest / 1000).toFixed(1)} s`;
        ctx.log(`run time by part (${seconds.toFixed(1)} s): ${parts}`);

        const messages = load.stored;
        const rate = report.written / seconds;
        const notes = `incoming lane; ${corpusName} ${label}: ${messages} messages, ${extensionIds.length} extensions; ${report.written} docs in ${seconds.toFixed(1)} s`;
        const prefix = `mail.cascade.${label}`;
        const results: Measurement[] = [
          { name: `${prefix}.messages`, value: messages / seconds, unit: 'msgs/s', notes: `raw messages through the whole cascade (raw to summaries); ${report.failed} failed runs` },
          { name: `${prefix}.written`, value: rate, unit: 'docs/s', notes },
        ];
        if (ceiling) results.push({ name: `${prefix}.vs-write-ceiling`, value: rate / ceiling.value, unit: '×', ratioOf: ceiling.name, notes: 'documents written per second / the _bulk_docs ceiling' });
        // The mail database carries the access check; on CouchDB it runs for every write.
        const checked = ctx.results.get('couch.bulk_docs.write-access-checked');
        if (checked) {
          results.push({ name: `${prefix}.vs-access-checked-write-ceiling`, value: rate / checked.value, unit: '×', ratioOf: checked.name, notes: 'documents written per second / the _bulk_docs ceiling of a database with the access check' });
          // The bound the server sets whatever the queue does: every message costs this run's
          // documents written per message through a write path that takes at most `checked`.
          const writtenPerMessage = (report.written + load.stored) / messages;
          results.push({ name: `${prefix}.access-checked-bound`, value: checked.value / writtenPerMessage, unit: 'msgs/s', notes: `the access-checked _bulk_docs ceiling / ${writtenPerMessage.toFixed(1)} documents written per message (its raw document included): the most messages per second this server takes with nothing else to do` });
        }
        const dataDocs = derived.reduce((sum, [, v]) => sum + v, 0);
        results.push({ name: `${prefix}.data-docs-per-message`, value: dataDocs / messages, unit: 'docs/msg', notes: `${dataDocs} derived documents stored (items a user or the front end reads)` });
        results.push({ name: `${prefix}.bookkeeping-per-message`, value: count('bookkeeping') / messages, unit: 'docs/msg', notes: `${count('bookkeeping')} bookkeeping documents stored (provenance and dependents); goal: at most 1` });
        results.push({ name: `${prefix}.raw-load`, value: messages / load.seconds, unit: 'msgs/s', notes: `storeRawMessages in batches of ${importLimits.batchMessages} (not in the above); ${mb(load.bytes).toFixed(0)} MB` });
        const [slowest, slowestMs] = byTime[0] ?? ['none', 0];
        results.push({ name: `${prefix}.slowest-extension`, value: totalMs > 0 ? slowestMs / totalMs : 0, unit: 'share', notes: `${slowest}: ${(slowestMs / 1000).toFixed(1)} s of ${(totalMs / 1000).toFixed(1)} s extension time; next ${byTime.slice(1, 3).map(([id, ms]) => `${id} ${((100 * ms) / totalMs).toFixed(0)}%`).join(', ')}` });
        results.push({ name: `${prefix}.commit-share`, value: phases.commitMs / (seconds * 1000), unit: 'share', notes: `the batches' commits (writes, intent, settled-write check) of ${seconds.toFixed(1)} s: ${parts}` });
        results.push({ name: `${prefix}.rss.peak`, value: mb(peaks.rss), unit: 'MB', notes: `queue process; heap used peak ${mb(peaks.heapUsed).toFixed(0)} MB; ${peaks.samples} samples` });
        if (peaks.sandboxHwm > 0) results.push({ name: `${prefix}.sandbox-rss.peak`, value: mb(peaks.sandboxHwm), unit: 'MB', notes: `sandbox child process (VmHWM); ${restarts} restarts` });
        if (peaks.serverRss > 0) results.push({ name: `${prefix}.server-rss.peak`, value: mb(peaks.serverRss), unit: 'MB', notes: 'embedded server process (sampled VmRSS)' });
        results.push({ name: `${prefix}.errors`, value: count('rd.core.error'), unit: 'docs', notes: `rd.core.error documents; ${count('rd.msg.email')} rd.msg.email, ${count('rd.msg.body')} rd.msg.body, ${count('rd.conv.summary')} rd.conv.summary` });
        ctx.log(`corpus files: ${basename(files[0] ?? '')} .. ${basename(files.at(-1) ?? '')}`);
        return results;
      } finally {
        await registry?.close();
        await destroyDatabase(couch, name).catch(() => undefined);
        await corpus.remove();
      }
    },
  };
}
