import { silentLogger } from '../src/core/index.js';
import type { Db } from '../src/couch/connect.js';
import { QueueRunner, type RunReport } from '../src/queue/queue-runner.js';
import type { SchemaRegistry } from '../src/schema/registry.js';
import { type MemoryPeaks, startMemorySampler } from './memory-sampler.js';

export interface TimedQueueRun {
  report: RunReport;
  seconds: number;
  peaks: MemoryPeaks;
  /** Sandbox process restarts during the run. */
  restarts: number;
  /** Milliseconds per extension over all batches (BatchStats.extensionMs). */
  extensionMs: Map<string, number>;
  /** Milliseconds over all batches in the cascade's steps (extensions of a step overlap,
   * so this is less than the sum of extensionMs), finding dependents and committing
   * (BatchStats). */
  phases: { stepsMs: number; dependentsMs: number; commitMs: number };
  /** Feed rows the queue handled, and of them the echoes of its own settled writes it
   * passed over unread (src/queue/own-writes.ts). */
  feed: { rows: number; passedOver: number };
}

/** Memory is sampled this often while the queue runs. */
const sampleEveryMs = 100;
/** A progress line this often, so a long run shows it is alive. */
const progressEveryMs = 10_000;

/**
 * One queue run until idle, as the benchmarks time it: a fresh runner (started before the
 * clock), peak memory of this process and its children sampled throughout, time per
 * extension summed over batches, and a progress line every 10 s through `log`.
 * `afterBatch`: called after each batch that wrote something.
 */
export async function timedQueueRun(db: Db, registry: SchemaRegistry, log: (progress: string) => void, afterBatch?: () => void): Promise<TimedQueueRun> {
  const extensionMs = new Map<string, number>();
  const progress = { written: 0, ran: 0 };
  const feed = { rows: 0, passedOver: 0 };
  const phases = { stepsMs: 0, dependentsMs: 0, commitMs: 0 };
  let t0 = performance.now();
  let lastLog = t0;
  const runner = await QueueRunner.start({
    db,
    registry,
    logger: silentLogger,
    onBatch: ({ stats, changes, passedOver }) => {
      feed.rows += changes;
      feed.passedOver += passedOver;
      progress.written += stats.written;
      progress.ran += stats.ran;
      if (stats.written > 0) afterBatch?.();
      for (const [id, ms] of Object.entries(stats.extensionMs ?? {})) extensionMs.set(id, (extensionMs.get(id) ?? 0) + ms);
      phases.stepsMs += stats.stepsMs ?? 0;
      phases.dependentsMs += stats.dependentsMs ?? 0;
      phases.commitMs += stats.commitMs ?? 0;
      const now = performance.now();
      if (now - lastLog > progressEveryMs) {
        lastLog = now;
        log(`${Math.round((now - t0) / 1000)} s: ${progress.written} written, ${progress.ran} runs`);
      }
    },
  });
  const sampler = startMemorySampler(sampleEveryMs);
  t0 = performance.now();
  let report: RunReport;
  let peaks: MemoryPeaks;
  let t1 = 0;
  let restarts = 0;
  try {
    report = await runner.runUntilIdle();
    t1 = performance.now();
  } finally {
    peaks = await sampler.stop();
    restarts = runner.pool.restarts;
    await runner.close();
  }
  return { report, seconds: (t1 - t0) / 1000, peaks, restarts, extensionMs, phases, feed };
}

/** Brings a database's installed extensions up to date before the mail arrives: a run over
 * the still empty database gives every extension an incoming-lane checkpoint, so the
 * timed run that follows is new mail in the incoming lane. */
export async function catchUpEmptyDatabase(db: Db, registry: SchemaRegistry): Promise<void> {
  const warm = await QueueRunner.start({ db, registry, logger: silentLogger });
  try {
    await warm.runUntilIdle();
  } finally {
    await warm.close();
  }
}
