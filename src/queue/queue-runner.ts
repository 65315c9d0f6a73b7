import { type Logger, silentLogger } from '../core/index.js';
import { type ChangesBatch, type Seq, followChanges } from '../couch/changes-follower.js';
import { changesPending } from '../couch/changes-pending.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { type SandboxPool, startSandboxPool } from '../sandbox/pool.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { type Checkpoint, checkpointSchemaId, readCheckpoints, writeCheckpoints } from './checkpoints.js';
import { type QueueExtension, orderExtensions } from './extension-set.js';
import { extensionSchemaId, loadStoredExtensions } from './load-extensions.js';
import { queueLimits } from './limits.js';
import { type BatchStats, type QueueContext, processBatch } from './process-batch.js';
import { removeUnvisitedOutputs } from './stale-outputs.js';
import { runRetryRequests } from './retry-requests.js';
import { readFeedRows } from './feed-rows.js';
import { OwnWrites } from './own-writes.js';

export interface QueueOptions {
  db: Db;
  registry: SchemaRegistry;
  logger: Logger;
  /** Run only these extensions (others keep their checkpoints). */
  only?: readonly string[];
  poolSize?: number;
  /** Changes per feed batch (default `queueLimits.batchSize`): tests cut the feed
   * differently to show that the data does not depend on where batches end. */
  batchSize?: number;
  /** How many revisions of its own settled writes the queue remembers to pass over their
   * echoes (default `queueLimits.ownWritesRemembered`); 0 reads every echo, as after a
   * restart: tests compare the two. */
  ownWritesRemembered?: number;
  /** After each feed batch: `changes` is how many feed rows it covered (for progress). */
  onBatch?: (info: { lane: 'incoming' | 'backlog'; extensions: string[]; stats: BatchStats; changes: number; passedOver: number }) => void;
  /** `watch` reached the head of the feed: the catch-up is done, or a followed batch left
   * nothing waiting (serve's view warmer builds indexes only then, see view-warmer.ts). */
  onIdle?: () => void;
}

export interface RunReport {
  batches: number;
  ran: number;
  skipped: number;
  failed: number;
  written: number;
}

const installedFingerprint = (stored: readonly QueueExtension[]): string => stored.map((e) => `${e.declaration.id} ${e.codeHash}`).sort().join('\n');

/** A lane: extensions sharing one feed reader from one checkpoint. */
interface Lane {
  kind: 'incoming' | 'backlog';
  extensions: QueueExtension[];
  since: Seq | undefined;
  /** Backlog: the code hash each edited extension replaced (absent for new ones). */
  previous?: Map<string, string>;
}

/**
 * The work queue of one process. `runUntilIdle` brings every extension to the head of
 * the feed: the incoming lane (extensions with a checkpoint for their current code)
 * first, then the backlog lane (new or changed extensions replaying from the start),
 * which then joins the incoming lane. `watch` keeps following the feed.
 */
export class QueueRunner {
  private constructor(
    private readonly options: QueueOptions,
    private readonly ctx: QueueContext,
    readonly extensions: readonly QueueExtension[],
    /** The installed extensions this queue was started from (ids and code hashes). */
    private readonly installed: string,
  ) {
    this.ownWrites = new OwnWrites(options.ownWritesRemembered);
  }

  /** Set once a stop is asked for: the batch in hand is left at the next step of its
   * cascade (see `BatchOptions.abandon`). */
  private stopping = false;
  /** The revisions of this queue's settled writes, whose echoes it passes over. */
  private readonly ownWrites: OwnWrites;

  static async start(options: QueueOptions): Promise<QueueRunner> {
    const stored = await loadStoredExtensions(options.db, options.logger);
    const pool = await startSandboxPool({ sources: stored.map((e) => ({ origin: e.declaration.id, code: e.code })), ...(options.poolSize ? { size: options.poolSize } : {}), logger: options.logger });
    const usable = stored.filter((e, i) => {
      const loaded = pool.extensions[i];
      if (loaded?.declaration) return true;
      options.logger.error(`extension ${e.declaration.id} cannot run: ${loaded?.problems.join('; ')}`);
      return false;
    });
    let ordered: QueueExtension[];
    try {
      ordered = orderExtensions(usable);
    } catch (err) {
      await pool.close();
      throw err;
    }
    const ctx: QueueContext = { db: options.db, registry: options.registry, pool, ordered, logger: options.logger };
    return new QueueRunner(options, ctx, ordered, installedFingerprint(stored));
  }

  /** Whether the extensions installed in the database differ from the ones this queue
   * started with (an install, an edit, an enable or disable): a worker (src/cluster) then
   * starts a new queue. One small read of the extension documents. */
  async installedChanged(): Promise<boolean> {
    return installedFingerprint(await loadStoredExtensions(this.options.db, silentLogger)) !== this.installed;
  }

  /** What a batch needs (the partitioned queue of a worker, src/cluster, runs batches
   * with it under its own checkpoints). */
  get context(): QueueContext {
    return this.ctx;
  }

  get pool(): SandboxPool {
    return this.ctx.pool;
  }

  async close(): Promise<void> {
    await this.ctx.pool.close();
  }

  /** Processes until every extension is at the head of the feed and nothing is pending,
   * or until `stop` resolves: then it ends after the batch in hand, with each lane's
   * checkpoint where that batch left it (what a kill would leave, without the repeat). A
   * replay cut short this way is not joined to the incoming lane; the next start resumes
   * it. Without this a stop waited for the whole catch-up, which after an import (or
   * under load, with a view build holding the server) outlasted serve's stop grace. */
  async runUntilIdle(stop?: Promise<void>): Promise<RunReport> {
    const report: RunReport = { batches: 0, ran: 0, skipped: 0, failed: 0, written: 0 };
    const stopping = { requested: false };
    void stop?.then(() => {
      stopping.requested = true;
      this.stopping = true;
    });
    for (let pass = 0; ; pass++) {
      if (stopping.requested) return report;
      const lanes = await this.lanes();
      let activity = false;
      let incomingSeq: Seq | undefined;
      for (const lane of lanes) {
        const result = await this.runLane(lane, 'head', report, stop);
        if (stopping.requested) return report;
        activity ||= result.batches > 0;
        if (lane.kind === 'incoming' && incomingSeq === undefined) incomingSeq = result.lastSeq;
        if (lane.kind === 'backlog') {
          // The replay is complete: outputs of the old code it did not produce again go.
          // Only an edited extension can have any (the lookup builds a view: not free).
          for (const ext of lane.extensions) if (lane.previous?.has(ext.declaration.id)) await removeUnvisitedOutputs(this.ctx, ext);
          // Join the incoming lane at its checkpoint, which was written before this
          // replay reached the head: changes delivered twice are skipped by provenance.
          await this.checkpoint(lane.extensions, incomingSeq ?? result.lastSeq, 'incoming', true);
        } else if (lanes.length > 1 && incomingSeq !== undefined && result.lastSeq !== incomingSeq) {
          await this.checkpoint(lane.extensions, incomingSeq, 'incoming', true);
        }
      }
      if (!activity || pass > 100) return report;
    }
  }

  /** Follows the feed until `signal` resolves; a change to the installed extensions ends
   * the watch so the caller can restart the queue with the new set. */
  async watch(stop: Promise<void>): Promise<'stopped' | 'extensions-changed'> {
    let stopRequested = false;
    void stop.then(() => {
      stopRequested = true;
      this.stopping = true;
    });
    await this.runUntilIdle(stop);
    if (stopRequested) return 'stopped';
    // An install lands as one write per extension: one written after this queue loaded
    // its set but before the checkpoint the catch-up just wrote is behind the feed
    // followed below and would never end the watch (the queue ran on with the old code).
    if (await this.installedChanged()) return 'extensions-changed';
    this.options.onIdle?.();
    const [lane] = await this.lanes();
    if (!lane) {
      await stop;
      return 'stopped';
    }
    let changed = false;
    let resolveChanged!: () => void;
    const extensionsChanged = new Promise<void>((r) => (resolveChanged = r));
    const follower = followChanges(this.ctx.db, {
      until: 'forever',
      ...(lane.since === undefined ? {} : { since: lane.since }),
      // Documents are read after the echoes of the queue's own writes are passed over.
      includeDocs: false,
      batchSize: this.options.batchSize ?? queueLimits.batchSize,
      logger: this.options.logger,
      onBatch: async (batch) => {
        const { docs } = await this.processFeedBatch(lane, batch);
        if (batch.atHead) this.options.onIdle?.();
        if (docs.some((d) => d.rd_schema_id === extensionSchemaId)) {
          changed = true;
          resolveChanged();
        }
      },
    });
    await Promise.race([stop, extensionsChanged, follower.done]);
    await follower.stop();
    await follower.done; // surfaces a fatal feed error
    return changed ? 'extensions-changed' : 'stopped';
  }

  /** Changes the lanes have yet to read (a sum over lanes, for a progress bar; capped
   * like `changesPending`). */
  async pendingChanges(): Promise<number> {
    let total = 0;
    for (const lane of await this.lanes()) total += (await changesPending(this.ctx.db, lane.since)).count;
    return total;
  }

  private async lanes(): Promise<Lane[]> {
    const active = this.extensions.filter((e) => !this.options.only || this.options.only.includes(e.declaration.id));
    const checkpoints = await readCheckpoints(this.ctx.db, active.map((e) => e.declaration.id));
    const incoming = new Map<string, Lane>();
    const backlog: Lane = { kind: 'backlog', extensions: [], since: undefined, previous: new Map() };
    const resumable: Array<string | undefined> = [];
    for (const ext of active) {
      const cp = checkpoints.get(ext.declaration.id);
      if (cp && cp.code_hash === ext.codeHash && cp.lane === 'incoming') {
        // Equal checkpoints share a reader; the string form is only used as a map key.
        const key = JSON.stringify(cp.seq);
        const lane = incoming.get(key) ?? { kind: 'incoming' as const, extensions: [], since: cp.seq };
        lane.extensions.push(ext);
        incoming.set(key, lane);
      } else {
        backlog.extensions.push(ext);
        const replaced = cp && cp.code_hash !== ext.codeHash ? cp.code_hash : cp?.previous_code_hash;
        if (replaced !== undefined) backlog.previous?.set(ext.declaration.id, replaced);
        resumable.push(cp && cp.code_hash === ext.codeHash && cp.lane === 'backlog' ? JSON.stringify(cp.seq) : undefined);
      }
    }
    // A replay interrupted by a crash resumes where it stopped, if every extension of the
    // lane stopped at the same place with the same code; otherwise it starts over.
    const first = resumable[0];
    if (first !== undefined && resumable.every((r) => r === first)) backlog.since = JSON.parse(first) as Seq;
    return [...incoming.values(), ...(backlog.extensions.length > 0 ? [backlog] : [])];
  }

  private async runLane(lane: Lane, until: 'head', report: RunReport, stop?: Promise<void>): Promise<{ batches: number; lastSeq: Seq | undefined }> {
    let batches = 0;
    const follower = followChanges(this.ctx.db, {
      until,
      ...(lane.since === undefined ? {} : { since: lane.since }),
      // Documents are read after the echoes of the queue's own writes are passed over.
      includeDocs: false,
      batchSize: this.options.batchSize ?? queueLimits.batchSize,
      logger: this.options.logger,
      onBatch: async (batch) => {
        const { stats } = await this.processFeedBatch(lane, batch);
        if (stats.abandoned) return;
        if (stats.ran > 0 || stats.written > 0) batches++;
        if (stats.ran > 0 || stats.written > 0) report.batches++;
        report.ran += stats.ran;
        report.skipped += stats.skipped;
        report.failed += stats.failed;
        report.written += stats.written;
      },
    });
    // A stop ends the follower after the batch in hand (its checkpoint is written).
    void stop?.then(() => follower.stop());
    const { lastSeq } = await follower.done;
    return { batches, lastSeq: lastSeq ?? lane.since };
  }

  private async processFeedBatch(lane: Lane, batch: ChangesBatch): Promise<{ stats: BatchStats; docs: CouchDoc[] }> {
    const { docs, deleted, passedOver } = await readFeedRows(this.ctx.db, batch.rows, this.ownWrites);
    const stats = await processBatch(this.ctx, { docs, deleted }, { feedExtensions: new Set(lane.extensions.map((e) => e.declaration.id)), abandon: () => this.stopping, ownWrites: this.ownWrites });
    // Left for a stop: no checkpoint, so the next start reads these changes again.
    if (stats.abandoned) return { stats, docs };
    // Retry requests are acted on as they arrive, not when a replay reads old ones.
    if (lane.kind === 'incoming') await runRetryRequests(this.ctx, docs);
    // A batch of nothing but checkpoints does not move the checkpoint: writing one is
    // itself a change on the feed, and the next batch would see it and write another,
    // forever. Any other batch does, so later passes do not read it again.
    const onlyCheckpoints = batch.rows.every((r) => !r.deleted && r.id.endsWith(`!${checkpointSchemaId}`));
    if (stats.ran > 0 || stats.written > 0 || !onlyCheckpoints) await this.checkpoint(lane.extensions, batch.lastSeq, lane.kind, lane.kind === 'incoming', lane.previous);
    lane.since = batch.lastSeq;
    this.options.onBatch?.({ lane: lane.kind, extensions: lane.extensions.map((e) => e.declaration.id), stats, changes: batch.rows.length, passedOver });
    return { stats, docs };
  }

  private async checkpoint(extensions: readonly QueueExtension[], seq: Seq | undefined, lane: Checkpoint['lane'], caughtUp: boolean, previousOf?: Map<string, string>): Promise<void> {
    if (seq === undefined) return;
    await writeCheckpoints(this.ctx.db, this.ctx.registry, extensions.map((e) => {
      const previous = lane === 'backlog' ? previousOf?.get(e.declaration.id) : undefined;
      return { extension: e.declaration.id, code_hash: e.codeHash, seq, lane, caught_up: caughtUp, ...(previous === undefined ? {} : { previous_code_hash: previous }) };
    }));
  }
}
