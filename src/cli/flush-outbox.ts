import type { PassReport } from '../protocols/smtp/sender.js';
import { Sender } from '../protocols/smtp/sender.js';
import type { CommandContext } from './command.js';
import { openQueue } from './open-queue.js';

/**
 * What `raindrop send` and `raindrop outbox flush` do without a running serve: the queue
 * for rd.ext.outgoing only (the protocol documents), then one sender pass. A serve
 * running at the same time is harmless: the attempt record decides who sends.
 */
export async function flushOutbox(ctx: CommandContext, only?: readonly string[]): Promise<PassReport> {
  const queue = await openQueue(ctx, ['rd.ext.outgoing']);
  try {
    await queue.runner.runUntilIdle();
    const sender = new Sender({ registry: queue.registry, db: queue.db, accounts: ctx.config.accounts, logger: ctx.logger });
    try {
      if (!only) return await sender.runOnce();
      const report: PassReport = { looked: 0, sent: 0, failed: 0, retrying: 0, unknown: 0, wakeAt: undefined };
      for (const id of only) {
        const r = await sender.processOne(id);
        report.looked++;
        if (r.outcome === 'sent' || r.outcome === 'failed' || r.outcome === 'retrying' || r.outcome === 'unknown') report[r.outcome]++;
        if (r.wakeAt !== undefined) report.wakeAt = Math.min(report.wakeAt ?? Infinity, r.wakeAt);
      }
      return report;
    } finally {
      await sender.close();
    }
  } finally {
    await queue.close();
  }
}
