import { contentHash, docIdFor, type JsonValue, type Logger, type RdKey } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import type { WriterCategory } from '../couch/schema-items/model.js';
import { itemSourceId } from '../couch/schema-items/merge.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { DocResult, Emitted, FailureKind } from '../sandbox/types.js';
import type { CheckOutcome, SchemaRegistry } from '../schema/registry.js';
import { BatchWriter } from './batch-writer.js';
import { writeIntent } from './commit-intent.js';
import { type QueueExtension, cascadeSteps, consumersOf } from './extension-set.js';
import { batchHostServices } from './host-services.js';
import { prefetchAttachments, readsAtSourceKeys } from './prefetch.js';
import { type OwnWrites, settledWrites } from './own-writes.js';
import { type ProvenanceEntry, bookkeepingId, isBookkeeping } from './provenance.js';
import { hashOf, versionOf } from './source-versions.js';

export interface QueueContext {
  db: Db;
  registry: SchemaRegistry;
  pool: SandboxPool;
  /** Enabled extensions in dependency order. */
  ordered: readonly QueueExtension[];
  logger: Logger;
}

export interface BatchInput {
  /** Changed documents (with content), in feed order. */
  docs: readonly CouchDoc[];
  /** Ids of documents deleted in this batch. */
  deleted: readonly string[];
}

export interface BatchOptions {
  /** Extensions that take the batch's documents (their lane); others run only on
   * documents produced inside the batch. Default: all. */
  feedExtensions?: ReadonlySet<string>;
  /** `<extension id>|<source id>` pairs to run whatever their provenance says. */
  force?: ReadonlySet<string>;
  /** Asked between the cascade's steps: true leaves the batch before its commit, with
   * nothing written (`abandoned` in the stats). A stop then waits for one step (its
   * extensions side by side), not for a whole batch of 500 changes, which under load outlasted serve's stop
   * grace; nothing is lost, since the feed hands the batch over again. */
  abandon?: () => boolean;
  /** Asked right before the batch's writes: false drops them all (a worker of several
   * whose lease moved on while the batch ran must not write what it computed: see
   * src/cluster). Absent for the single-process queue. */
  beforeCommit?: () => Promise<boolean>;
  /** Where to write the commit's intent (commit-intent.ts) before its outputs: the
   * outputs and error records no provenance lists yet. A cluster's aggregates unit, whose
   * rerun after a crash may not make the same outputs again. */
  intentId?: string;
  /** Where to remember the revisions of this batch's settled writes, so that their echo
   * on the feed is passed over unread (own-writes.ts). The single-process queue only: a
   * cluster's worker reads its partitions' feeds, and what it wrote may be another
   * partition's work. */
  ownWrites?: OwnWrites;
}

export interface BatchStats {
  ran: number;
  skipped: number;
  failed: number;
  written: number;
  /** Milliseconds each extension's step of the cascade took in this batch, by extension
   * id (provenance reads, the sandbox run with its host calls, output checks, its
   * later_handler): what `onBatch` consumers such as the benchmarks need to name the
   * slowest extension. The final `_bulk_docs` commit is shared and counted in
   * commitMs. Absent where nothing ran. */
  extensionMs?: Record<string, number>;
  /** Milliseconds of all the cascade's steps together: unrelated extensions share a step
   * and run at the same time, so their extensionMs overlap and add up to more than this. */
  stepsMs?: number;
  /** Milliseconds of the batch's other parts: finding the dependents of its documents
   * (and removing what deleted sources made) before the steps, and the commit with its
   * intent and settled-write check after them. With extensionMs, what the benchmarks
   * split a run's time into; the rest is the feed's reads and the checkpoints. */
  dependentsMs?: number;
  commitMs?: number;
  /** The batch was left before its commit (see `BatchOptions.abandon`): nothing written. */
  abandoned?: true;
  /** The batch's writes were dropped (`beforeCommit` said no). */
  refused?: boolean;
}

export const errorSchemaId = 'rd.core.error';
/** The versions of the dependencies the batch holds (what the run could have read). */
function seenVersions(writer: BatchWriter, deps: readonly string[]): Record<string, string> | undefined {
  const seen: Record<string, string> = {};
  for (const dep of deps) {
    const doc = writer.get(dep);
    if (doc !== undefined) seen[dep] = versionOf(doc);
  }
  return Object.keys(seen).length > 0 ? seen : undefined;
}
export const laterSourceId = 'rd!later';
const forceKey = (ext: string, source: string) => `${ext}|${source}`;
const writeCategory = (c: QueueExtension['declaration']['category']): WriterCategory => (c === 'extender' ? 'extender' : 'provider');

/**
 * One batch, as an in-memory cascade: each extension (in dependency order) runs on the
 * batch's documents of its source schemas and on what upstream extensions produced in
 * this same batch; everything is written at the end with a few `_bulk_docs` calls.
 * Provenance (source content hash + code hash) decides what is already done.
 */
export async function processBatch(ctx: QueueContext, input: BatchInput, options: BatchOptions = {}): Promise<BatchStats> {
  const writer = new BatchWriter(ctx.db);
  writer.seed(input.docs);
  const stats: BatchStats = { ran: 0, skipped: 0, failed: 0, written: 0 };
  const services = batchHostServices(ctx.db, writer, ctx.registry);
  const force = new Set(options.force ?? []);
  const pending = new Map<string, Map<string, CouchDoc>>();
  const position = new Map(ctx.ordered.map((e, i) => [e.declaration.id, i]));
  /** [output or error id, extension, source id] this batch writes and no provenance lists yet. */
  const intent: Array<[string, string, string]> = [];

  const enqueue = (doc: CouchDoc, fromFeed: boolean, after = -1) => {
    if (isBookkeeping(doc._id) || typeof doc.rd_schema_id !== 'string' || !doc.rd_schema_provider) return;
    for (const ext of consumersOf(ctx.ordered, doc.rd_schema_id)) {
      if ((position.get(ext.declaration.id) ?? 0) <= after) continue;
      if (fromFeed && options.feedExtensions && !options.feedExtensions.has(ext.declaration.id)) continue;
      const tasks = pending.get(ext.declaration.id) ?? new Map<string, CouchDoc>();
      tasks.set(doc._id, doc);
      pending.set(ext.declaration.id, tasks);
    }
  };

  const dependentsStarted = performance.now();
  await removeDeletedSources(ctx, writer, input.deleted);
  for (const doc of input.docs) enqueue(doc, true);
  await enqueueDependents(ctx, writer, input, force, enqueue);
  stats.dependentsMs = performance.now() - dependentsStarted;

  /** One extension's part of a step: runs it on its pending documents and applies what it
   * made. Returns what its consumers must take, handed on once the whole step is done. */
  const runExtension = async (ext: QueueExtension): Promise<CouchDoc[]> => {
    const id = ext.declaration.id;
    const changed: CouchDoc[] = [];
    const tasks = [...(pending.get(id)?.values() ?? [])];
    const started = performance.now();
    await writer.load(tasks.map((d) => bookkeepingId(d._id)));
    const toRun: Array<{ doc: CouchDoc; hash: string; entry: ProvenanceEntry | undefined }> = [];
    for (const doc of tasks) {
      const entry = writer.provenance(doc._id)?.extensions[id];
      const hash = hashOf(doc);
      if (entry && entry.source_hash === hash && entry.code_hash === ext.codeHash && !force.has(forceKey(id, doc._id))) {
        stats.skipped++;
        continue;
      }
      toRun.push({ doc, hash, entry });
    }
    if (toRun.length === 0) {
      addTime(stats, id, started);
      return changed;
    }
    await prefetchAttachments(ctx.db, writer, toRun.map((t) => t.doc));
    const upgraded = await ctx.registry.upgradeDocs(toRun.map((t) => t.doc));
    const preload = readsAtSourceKeys(ctx.registry, ext.declaration.reads, toRun.map((t) => t.doc));
    const results = await ctx.pool.run(id, upgraded.map((u, i) => (u.ok ? u.doc : (toRun[i] as { doc: CouchDoc }).doc)), services, preload);
    const checks = await checkOutputs(ctx.registry, ext, results);
    const later: JsonValue[] = [];
    // The error document is needed only where there is or was a failure.
    await writer.load(toRun.flatMap((t, i) => [
      ...(t.entry?.error || !results[i]?.ok || !checks[i]?.ok ? [docIdFor(t.doc.rd_key as RdKey, errorSchemaId)] : []),
      ...(t.entry?.outputs ?? []),
      ...(results[i]?.ok ? results[i].emits.map((e) => e.id) : []),
    ]));
    toRun.forEach((task, i) => {
      const result = results[i] as DocResult;
      const outcome = checks[i] as OutputCheck;
      for (const log of result.logs) ctx.logger[log.level](`${id}: ${log.message}`, { source: task.doc._id });
      stats.ran++;
      if (!result.ok || !outcome.ok) {
        stats.failed++;
        const failure = !result.ok ? { kind: result.kind, message: result.message, failures: [] } : (outcome as Extract<OutputCheck, { ok: false }>);
        const errorId = recordFailure(writer, ext, task.doc, task.hash, task.entry, failure);
        if (options.intentId && task.entry?.error !== errorId) intent.push([errorId, id, task.doc._id]);
        return;
      }
      const produced = applyOutputs(writer, ext, result.emits, outcome.fields, { id: task.doc._id, hash: task.hash }, (doc) => changed.push(doc));
      if (options.intentId) for (const out of produced) if (!task.entry?.outputs.includes(out)) intent.push([out, id, task.doc._id]);
      for (const stale of task.entry?.outputs ?? []) {
        if (produced.includes(stale)) continue;
        if (writer.removeItem(stale, id)) {
          const after = writer.get(stale);
          if (after) changed.push(after);
        }
      }
      if (task.entry?.error) writer.removeItem(task.entry.error, id);
      const deps = [...new Set(result.emits.flatMap((e) => e.deps ?? []))].sort();
      const seen = seenVersions(writer, deps);
      writer.setProvenance(task.doc._id, id, { source_hash: task.hash, code_hash: ext.codeHash, outputs: [...produced].sort(), ...(deps.length > 0 ? { deps } : {}), ...(seen ? { seen } : {}) });
      later.push(...result.later);
    });
    if (later.length > 0 && ext.declaration.has_later_handler) {
      await runLater(ctx, ext, later, services, writer, (doc) => changed.push(doc));
    }
    addTime(stats, id, started);
    return changed;
  };

  // Unrelated extensions of a step run at the same time (extension-set.ts): while one
  // waits on the sandbox, another's reads, checks and writes go on. What they hand on is
  // enqueued in the order of `ordered`, as when they ran one after another.
  for (const step of cascadeSteps(ctx.ordered)) {
    const running = step.filter((ext) => (pending.get(ext.declaration.id)?.size ?? 0) > 0);
    if (running.length === 0) continue;
    if (options.abandon?.()) return { ...stats, abandoned: true };
    const started = performance.now();
    const settled = await Promise.allSettled(running.map(runExtension));
    stats.stepsMs = (stats.stepsMs ?? 0) + (performance.now() - started);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
    settled.forEach((outcome, i) => {
      const index = position.get((running[i] as QueueExtension).declaration.id) ?? 0;
      for (const doc of (outcome as PromiseFulfilledResult<CouchDoc[]>).value) enqueue(doc, false, index);
    });
  }
  if (options.abandon?.()) return { ...stats, abandoned: true };
  const commitStarted = performance.now();
  // Before the fence's last look, so that the window it leaves stays one request.
  if (options.intentId && intent.length > 0) await writeIntent(ctx.db, options.intentId, intent);
  if (options.beforeCommit && !(await options.beforeCommit())) {
    stats.refused = true;
    return stats;
  }
  const committed = await writer.commit(options.beforeCommit);
  stats.written = committed.written;
  if (committed.refused) stats.refused = true;
  else if (options.ownWrites) for (const [id, rev] of await settledWrites(ctx.ordered, writer, committed.revs)) options.ownWrites.remember(id, rev);
  stats.commitMs = performance.now() - commitStarted;
  return stats;
}

function addTime(stats: BatchStats, id: string, started: number): void {
  const times = (stats.extensionMs ??= {});
  times[id] = (times[id] ?? 0) + (performance.now() - started);
}

type OutputCheck = { ok: true; fields: Array<{ fields: Record<string, JsonValue>; version: number }> } | { ok: false; kind: FailureKind; message: string; failures: Array<{ path: string; message: string }> };

/** Validates (and upgrades) every output of every document in one registry call. */
async function checkOutputs(registry: SchemaRegistry, ext: QueueExtension, results: readonly DocResult[]): Promise<OutputCheck[]> {
  const flat = results.flatMap((r, i) => (r.ok ? r.emits.map((e) => ({ i, e })) : []));
  const outcomes = await registry.checkMany(flat.map(({ e }) => ({ key: e.key, schemaId: e.schemaId, fields: e.fields, writer: ext.declaration.id, partial: writeCategory(ext.declaration.category) === 'extender' })));
  return results.map((r, i) => {
    if (!r.ok) return { ok: true, fields: [] };
    const mine = flat.map((f, k) => ({ f, o: outcomes[k] as CheckOutcome })).filter(({ f }) => f.i === i);
    const bad = mine.find(({ o }) => !o.ok);
    if (bad && !bad.o.ok) return { ok: false, kind: 'invalid-output' as const, message: bad.o.message, failures: bad.o.failures };
    return { ok: true, fields: mine.map(({ o }) => o as { fields: Record<string, JsonValue>; version: number }) };
  });
}

function applyOutputs(
  writer: BatchWriter,
  ext: QueueExtension,
  emits: readonly Emitted[],
  checked: ReadonlyArray<{ fields: Record<string, JsonValue>; version: number }>,
  source: { id: string; hash: string },
  onChanged: (doc: CouchDoc) => void,
): string[] {
  const produced: string[] = [];
  emits.forEach((emit, k) => {
    const valid = checked[k] as { fields: Record<string, JsonValue>; version: number };
    const { doc, changed } = writer.applyItem(emit.id, {
      key: emit.key,
      schemaId: emit.schemaId,
      schemaVersion: valid.version,
      writer: ext.declaration.id,
      category: writeCategory(ext.declaration.category),
      confidence: ext.declaration.confidence,
      source,
      codeHash: ext.codeHash,
      fields: valid.fields,
      ...(emit.attachments ? { attachments: emit.attachments } : {}),
      ...(emit.deps ? { deps: emit.deps } : {}),
    });
    produced.push(emit.id);
    if (changed) onChanged(doc);
  });
  return produced;
}

function recordFailure(
  writer: BatchWriter,
  ext: QueueExtension,
  source: CouchDoc,
  hash: string,
  entry: ProvenanceEntry | undefined,
  failure: { kind: FailureKind; message: string; failures: Array<{ path: string; message: string }> },
): string {
  const key = source.rd_key as RdKey;
  const errorId = docIdFor(key, errorSchemaId);
  writer.applyItem(errorId, {
    key,
    schemaId: errorSchemaId,
    writer: ext.declaration.id,
    category: 'provider',
    source: { id: source._id, hash },
    codeHash: ext.codeHash,
    fields: {
      extension: ext.declaration.id,
      kind: failure.kind,
      message: failure.message.slice(0, 4000),
      source_id: source._id,
      source_hash: hash,
      code_hash: ext.codeHash,
      ...(failure.failures.length > 0 ? { failures: failure.failures.slice(0, 50) } : {}),
    },
  });
  // The outputs of the last good run stay; the error says why they are not newer.
  writer.setProvenance(source._id, ext.declaration.id, { source_hash: hash, code_hash: ext.codeHash, outputs: entry?.outputs ?? [], error: errorId });
  return errorId;
}

async function runLater(ctx: QueueContext, ext: QueueExtension, values: JsonValue[], services: ReturnType<typeof batchHostServices>, writer: BatchWriter, onChanged: (doc: CouchDoc) => void): Promise<void> {
  const result = await ctx.pool.runLater(ext.declaration.id, values, services);
  const [check] = await checkOutputs(ctx.registry, ext, [result]);
  if (!result.ok || !check?.ok) {
    ctx.logger.warn(`${ext.declaration.id}: later_handler failed`, { error: result.ok ? (check as { message: string }).message : result.message });
    return;
  }
  const retracts = result.retracts ?? [];
  await writer.load([...result.emits.map((e) => e.id), ...retracts.map((r) => r.id)]);
  applyOutputs(writer, ext, result.emits, check.fields, { id: laterSourceId, hash: contentHash(values) }, onChanged);
  for (const { id } of retracts) {
    // Only the extension's own later_handler item: an item it wrote from a source is that
    // source's output, kept and removed by its provenance.
    if (itemSourceId(writer.get(id), ext.declaration.id) !== laterSourceId) continue;
    if (writer.removeItem(id, ext.declaration.id)) {
      const after = writer.get(id);
      if (after) onChanged(after);
    }
  }
}

/** A deleted source takes every extension's outputs from it along. */
async function removeDeletedSources(ctx: QueueContext, writer: BatchWriter, deleted: readonly string[]): Promise<void> {
  const sources = deleted.filter((id) => !isBookkeeping(id));
  if (sources.length === 0) return;
  await writer.load(sources.map(bookkeepingId));
  const targets = sources.flatMap((id) => Object.values(writer.provenance(id)?.extensions ?? {}).flatMap((e) => [...e.outputs, ...(e.error ? [e.error] : [])]));
  await writer.load(targets);
  for (const id of sources) {
    for (const [ext, entry] of Object.entries(writer.provenance(id)?.extensions ?? {})) {
      for (const out of entry.outputs) writer.removeItem(out, ext);
      if (entry.error) writer.removeItem(entry.error, ext);
      writer.setProvenance(id, ext, null);
    }
  }
  ctx.logger.debug('removed outputs of deleted sources', { count: sources.length });
}

/** Sources whose outputs declared a dependency on a document of this batch run again. */
async function enqueueDependents(ctx: QueueContext, writer: BatchWriter, input: BatchInput, force: Set<string>, enqueue: (doc: CouchDoc, fromFeed: boolean) => void): Promise<void> {
  if (!ctx.ordered.some((e) => e.declaration.uses_dependencies)) return;
  const keys = [...input.docs.map((d) => d._id), ...input.deleted].filter((id) => !isBookkeeping(id));
  if (keys.length === 0) return;
  await writer.loadDependents(keys);
  const changed = new Map<string, CouchDoc | null>([...input.docs.map((d) => [d._id, d] as const), ...input.deleted.map((id) => [id, null] as const)]);
  const pairs = keys.flatMap((key) => writer.dependentsOf(key).map(([ext, source]) => [ext, source, key] as const));
  // Provenance first: most dependents already ran on exactly this version of the
  // dependency (it was written earlier in the batch that ran the dependent, and is only
  // now coming back on the feed), and their source documents need not be read at all.
  await writer.load(pairs.map(([, source]) => bookkeepingId(source)));
  const due = pairs.filter(([ext, source, key]) => {
    const seen = writer.provenance(source)?.extensions[ext]?.seen?.[key];
    const now = changed.get(key);
    return !(seen !== undefined && now !== undefined && seen === versionOf(now));
  });
  await writer.load(due.map(([, source]) => source));
  for (const [ext, source] of due) {
    const doc = writer.get(source);
    if (!doc) continue;
    force.add(forceKey(ext, source));
    enqueue(doc, false);
  }
}
