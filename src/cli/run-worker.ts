import { sleepUnlessStopped } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import { type WorkerRole, aggregatesLease } from '../cluster/documents.js';
import { runWhileHeld } from '../cluster/hold-while.js';
import { type ClusterTiming, clusterLimits } from '../cluster/limits.js';
import { type Claim, ClusterMember } from '../cluster/member.js';
import { PartitionQueue } from '../cluster/partition-queue.js';
import { allPartitions } from '../cluster/partition.js';
import { watchAccount } from '../protocols/imap/watch.js';
import { Sender } from '../protocols/smtp/sender.js';
import type { QueueRunner } from '../queue/queue-runner.js';
import { runRetryRequests } from '../queue/retry-requests.js';
import type { BatchStats } from '../queue/process-batch.js';
import type { SchemaRegistry } from '../schema/registry.js';
import type { CommandContext } from './command.js';
import { exitCodes } from './exit-codes.js';

export interface WorkerParts {
  db: Db;
  registry: SchemaRegistry;
  /** Starts a queue whose context (extensions, pools) the partitions run (its own
   * follower is not used). Called again when the installed extensions change; every
   * queue it returns is closed by runWorker. */
  startRunner: () => Promise<QueueRunner>;
  roles: readonly WorkerRole[];
  timing: Partial<ClusterTiming>;
  verbose: boolean;
  /** After each batch (serve pokes its view warmer). */
  onBatch?: (stats: BatchStats) => void;
  /** After a pass that brought every unit this worker holds to the head of the feed. */
  onIdle?: () => void;
}

/**
 * One worker of several, until a stop or a drain request: announces itself, takes its
 * share of the partitions and of the leased singletons (sender, accounts), runs them,
 * and on the way out finishes the batch in hand, releases its leases and removes its
 * announcement. What "raindrop worker" runs, and "raindrop serve --worker" in place of
 * its own queue, sync and sender.
 */
export async function runWorker(ctx: CommandContext, parts: WorkerParts, onJoined: (member: ClusterMember) => void): Promise<number> {
  const { db, registry, roles } = parts;
  const accounts = Object.values(ctx.config.accounts);
  const claims: Claim[] = [
    ...allPartitions().map((p) => ({ name: `partition:${p}`, role: 'process' as const })),
    { name: aggregatesLease, role: 'process' as const },
    ...(accounts.some((a) => a.smtp !== undefined) ? [{ name: 'sender', role: 'send' as const }] : []),
    ...accounts.map((a) => ({ name: `account:${a.name}`, role: 'fetch' as const })),
  ];
  // The member and the partition queue need each other (leases drive the queue, the queue
  // fences its commits with the member), so the member's callbacks reach the queue through
  // this binding, set once the queue exists; no lease is acquired before member.tick() below.
  let queueOfMember: PartitionQueue | undefined;
  const member = ClusterMember.create({
    db,
    logger: ctx.logger,
    roles,
    claims,
    timing: parts.timing,
    onAcquired: async (lease) => queueOfMember?.acquired(lease),
    onLost: (name) => queueOfMember?.lost(name),
  });
  const level = parts.verbose ? 'info' : 'debug';
  let runner = await parts.startRunner();
  const queue = new PartitionQueue({
    ctx: runner.context,
    member,
    partitions: clusterLimits.partitions,
    logger: ctx.logger,
    onBatchStart: ({ units, changes }) => ctx.logger[level](`working on ${changes} changes for ${units.join(',')}`),
    onBatch: ({ units, stats, changes }) => {
      ctx.logger[level](`batch on ${units.join(',')}: ${changes} changes, ${stats.ran} ran, ${stats.written} written`);
      parts.onBatch?.(stats);
    },
    // With every extension (not only the cross-key ones): a retry is asked per extension.
    afterAggregatesBatch: async (docs) => void (await runRetryRequests(runner.context, docs)),
  });
  queueOfMember = queue;
  let lastExtensionCheck = Date.now();
  /** Between passes (no batch in hand): a new queue when the installed extensions changed,
   * taking over the held units; a failed start keeps the old one and says so. */
  const followInstalledExtensions = async (): Promise<void> => {
    if (!queue.sawExtensionChange && Date.now() - lastExtensionCheck < clusterLimits.extensionCheckMs) return;
    queue.sawExtensionChange = false;
    lastExtensionCheck = Date.now();
    if (!(await runner.installedChanged())) return;
    let next: QueueRunner;
    try {
      next = await parts.startRunner();
    } catch (err) {
      ctx.logger.error('the installed extensions changed, but they could not be started; this worker keeps running the previous ones', { error: (err as Error).message });
      return;
    }
    queue.useContext(next.context);
    const previous = runner;
    runner = next;
    await previous.close();
    ctx.logger.info(`the installed extensions changed: this worker runs ${next.extensions.map((e) => e.declaration.id).join(', ')} now; partitions replay what changed`);
  };
  ctx.logger.info(`per-key extensions (run per partition): ${queue.workClasses.partitioned.join(', ') || 'none'}; cross-key extensions (one worker at a time): ${queue.workClasses.aggregate.join(', ') || 'none'}`);
  try {
    await member.tick();
    member.start();
    onJoined(member);
    const stop = Promise.race([ctx.stopRequested, member.drainRequested]);
    let stopped = false;
    void stop.then(() => {
      stopped = true;
      member.drain();
    });
    const side: Array<Promise<void>> = [];
    if (roles.includes('send') && claims.some((c) => c.name === 'sender')) {
      side.push(runWhileHeld(member, 'sender', stop, ctx.logger, async (until) => {
        const sender = new Sender({ registry, db, accounts: ctx.config.accounts, logger: ctx.logger });
        try {
          await sender.watch(until);
        } finally {
          await sender.close();
        }
      }));
    }
    if (roles.includes('fetch')) {
      for (const account of accounts) side.push(runWhileHeld(member, `account:${account.name}`, stop, ctx.logger, (until) => watchAccount({ registry, db, account, logger: ctx.logger, stop: until })));
    }
    while (!stopped) {
      let batches = 0;
      try {
        batches = await queue.pass(stop);
      } catch (err) {
        // A server away, a request cut off (this process paused): nothing was
        // checkpointed for the failed batch; it is read again from the checkpoint.
        ctx.logger.error('a batch failed; trying again in 5 s', { error: (err as Error).message });
        queue.rewind();
        await sleepUnlessStopped(5000, stop);
        continue;
      }
      parts.onIdle?.();
      try {
        await followInstalledExtensions();
      } catch (err) {
        ctx.logger.warn('could not compare the extensions with the installed ones; trying again later', { error: (err as Error).message });
      }
      // Nothing new: look again soon (new changes, or partitions taken meanwhile).
      if (batches === 0) await sleepUnlessStopped(Math.min(1000, member.timing.heartbeatMs), stop);
    }
    await Promise.all(side);
    return exitCodes.ok;
  } finally {
    await member.leave().catch((err: unknown) => ctx.logger.warn('could not leave the cluster cleanly; its leases run out by themselves', { error: (err as Error).message }));
    await runner.close();
    ctx.logger.info('worker stopped');
  }
}
