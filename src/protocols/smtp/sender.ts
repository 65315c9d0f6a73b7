import type { AccountSettings } from '../../config/index.js';
import { parseDocId, type Logger } from '../../core/index.js';
import { type ChangesFollower, followChanges } from '../../couch/changes-follower.js';
import { bulkGet } from '../../couch/bulk-get.js';
import type { Db } from '../../couch/connect.js';
import type { CouchDoc } from '../../couch/documents.js';
import { databaseInfo } from '../../couch/database-info.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { outgoingSchema, smtpSchema, stateSchema } from './items.js';
import { type SmtpLimits, defaultSmtpLimits } from './limits.js';
import { readOutbox } from './outbox.js';
import { type SendContext, type StepResult, outgoingDocIds, processOutgoing } from './send-one.js';
import { type SmtpLink, openSmtp } from './transport.js';
import { newWorkerId } from './worker-id.js';

export interface SenderOptions {
  registry: SchemaRegistry;
  db: Db;
  accounts: Readonly<Record<string, AccountSettings>>;
  logger: Logger;
  limits?: Partial<SmtpLimits>;
  now?: () => number;
}

export interface PassReport {
  looked: number;
  sent: number;
  failed: number;
  retrying: number;
  unknown: number;
  /** Earliest time something needs another look (a retry, a stale attempt). */
  wakeAt: number | undefined;
}

const outgoingSchemas = new Set([outgoingSchema, smtpSchema, stateSchema]);
/** Messages whose documents a pass reads at once: one request instead of one each, and
 * few enough that what was read is still fresh when the message's turn comes. */
const prefetchMessages = 20;

/**
 * The SMTP sender: acts on what the queue produced (rd.msg.outgoing.smtp) for messages
 * the user asked to send, one at a time, each through `processOutgoing`. `runOnce` is
 * one pass over the outbox (CLI `outbox flush`); `watch` is serve's loop: a pass, then
 * the changes feed for outgoing documents and timers for retries. Safe to run in several
 * processes at once: the attempt record decides who sends.
 */
export class Sender {
  private readonly ctx: SendContext;
  private readonly links = new Map<string, Promise<SmtpLink>>();

  constructor(options: SenderOptions) {
    const limits = { ...defaultSmtpLimits, ...options.limits };
    this.ctx = {
      registry: options.registry,
      db: options.db,
      accounts: options.accounts,
      logger: options.logger,
      limits,
      worker: newWorkerId(),
      now: options.now ?? Date.now,
      link: (account) => {
        let link = this.links.get(account.name);
        if (!link) {
          link = openSmtp(account, limits, options.logger);
          link.catch(() => this.links.delete(account.name));
          this.links.set(account.name, link);
        }
        return link;
      },
    };
  }

  get worker(): string {
    return this.ctx.worker;
  }

  /** One message now (the CLI after `send`, tests). */
  processOne(messageId: string): Promise<StepResult> {
    return processOutgoing(this.ctx, messageId);
  }

  /** One pass over every outgoing message that needs the sender. */
  async runOnce(): Promise<PassReport> {
    const entries = (await readOutbox(this.ctx.db)).filter((e) => e.needsSender);
    return this.pass(entries.map((e) => e.messageId));
  }

  private async pass(ids: Iterable<string>): Promise<PassReport> {
    const report: PassReport = { looked: 0, sent: 0, failed: 0, retrying: 0, unknown: 0, wakeAt: undefined };
    const all = [...ids];
    let prefetched = new Map<string, CouchDoc>();
    for (const [i, id] of all.entries()) {
      report.looked++;
      // The documents of the next few messages in one read; each message's own writes
      // are guarded by revisions, so a stale read costs a re-read, never a second send.
      if (i % prefetchMessages === 0) prefetched = await bulkGet(this.ctx.db, all.slice(i, i + prefetchMessages).flatMap((m) => Object.values(outgoingDocIds(m))));
      let result: StepResult;
      try {
        result = await processOutgoing(this.ctx, id, prefetched);
      } catch (err) {
        // A database failure: nothing was sent without a record; the next pass retries.
        this.ctx.logger.error('the sender could not handle a message; trying again later', { message: id, error: (err as Error).message });
        result = { outcome: 'busy', wakeAt: this.ctx.now() + this.ctx.limits.pollMs };
      }
      if (result.outcome === 'sent' || result.outcome === 'failed' || result.outcome === 'retrying' || result.outcome === 'unknown') report[result.outcome]++;
      if (result.wakeAt !== undefined) report.wakeAt = Math.min(report.wakeAt ?? Infinity, result.wakeAt);
    }
    return report;
  }

  /** Until `stop`: a pass over the outbox, then every outgoing document that changes,
   * and each message again when its retry (or a stale attempt's deadline) is due. */
  async watch(stop: Promise<void>): Promise<void> {
    let stopped = false;
    let wake: () => void = () => undefined;
    const pending = new Set<string>();
    const timers = new Map<string, number>();
    void stop.then(() => {
      stopped = true;
      wake();
    });
    const since = (await databaseInfo(this.ctx.db))?.updateSeq;
    for (const e of await readOutbox(this.ctx.db)) if (e.needsSender) pending.add(e.messageId);
    const follower: ChangesFollower = followChanges(this.ctx.db, {
      ...(since === undefined ? { since: 'now' as const } : { since }),
      until: 'forever',
      logger: this.ctx.logger,
      onBatch: (batch) => {
        for (const row of batch.rows) {
          if (row.deleted || !row.id.startsWith('rc!email.')) continue;
          const bang = row.id.lastIndexOf('!');
          if (!outgoingSchemas.has(row.id.slice(bang + 1))) continue;
          try {
            pending.add(String(parseDocId(row.id).key[1]));
          } catch {
            continue;
          }
        }
        if (pending.size > 0) wake();
      },
    });
    try {
      while (!stopped) {
        const now = this.ctx.now();
        for (const [id, at] of timers) if (at <= now) {
          timers.delete(id);
          pending.add(id);
        }
        while (pending.size > 0 && !stopped) {
          const id = pending.values().next().value as string;
          pending.delete(id);
          const report = await this.pass([id]);
          if (report.wakeAt !== undefined) timers.set(id, report.wakeAt);
        }
        if (stopped) break;
        const next = Math.min(...timers.values(), this.ctx.now() + this.ctx.limits.pollMs);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, next - this.ctx.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      await follower.stop();
    }
  }

  /** Closes the SMTP connections. */
  async close(): Promise<void> {
    const links = [...this.links.values()];
    this.links.clear();
    for (const link of links) (await link.catch(() => undefined))?.close();
  }
}
