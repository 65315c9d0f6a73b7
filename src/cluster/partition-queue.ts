import type { Logger } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { type ChangesBatch, type Seq, followChanges } from '../couch/changes-follower.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { putDoc } from '../couch/put-doc.js';
import { checkpointSchemaId } from '../queue/checkpoints.js';
import { queueLimits } from '../queue/limits.js';
import { type BatchStats, type QueueContext, processBatch } from '../queue/process-batch.js';
import { isBookkeeping } from '../queue/provenance.js';
import { type LeaseDoc, type PartitionCheckpointDoc, leaseAllowsCommit, leaseDocId, partitionCheckpointId, partitionLease } from './documents.js';
import type { ClusterMember, HeldLease } from './member.js';
import { partitionOfId } from './partition.js';

interface PartitionState {
  partition: number;
  epoch: number;
  /** The checkpoint document's revision as this owner last wrote it: the fence. */
  rev: string;
  /** Where the next read starts (ahead of the stored checkpoint after batches of
   * nothing but coordination documents, which do not write one). */
  since: Seq | undefined;
  code: Record<string, string>;
}

export interface PartitionQueueOptions {
  ctx: QueueContext;
  member: ClusterMember;
  partitions: number;
  logger: Logger;
  onBatch?: (info: { partitions: number[]; stats: BatchStats; changes: number }) => void;
  /** Refused commits, for tests and `status`. */
  onRefused?: (partition: number, why: string) => void;
}

const partitionOfLease = (name: string): number | undefined => (name.startsWith('partition:') ? Number(name.slice(10)) : undefined);

/**
 * The work queue of one worker of several: it processes only the feed rows whose key
 * falls in a partition it holds, with one checkpoint per partition. Partitions at the
 * same feed position share one reader.
 *
 * Fencing: taking a partition writes its checkpoint document first (with the new
 * epoch), which changes its `_rev`; every batch then re-reads its leases and writes the
 * checkpoint with the `_rev` it holds. An owner whose lease moved on gets a 409 (or sees
 * the lease gone) and drops the partition; the new owner redoes the batch from the
 * checkpoint it found. Outputs of such a late batch may already be written: they are
 * what the new owner computes too (extensions are deterministic, writes merge per
 * writer), so the harm is a redundant revision, never a lost or doubled contribution.
 */
export class PartitionQueue {
  private readonly state = new Map<number, PartitionState>();
  private readonly code: Record<string, string>;

  constructor(private readonly options: PartitionQueueOptions) {
    this.code = Object.fromEntries(options.ctx.ordered.map((e) => [e.declaration.id, e.codeHash]));
  }

  private get db(): Db {
    return this.options.ctx.db;
  }

  held(): number[] {
    return [...this.state.keys()].sort((a, b) => a - b);
  }

  /** Takes a partition: its checkpoint is rewritten under the new epoch before any work. */
  async acquired(lease: HeldLease): Promise<void> {
    const partition = partitionOfLease(lease.name);
    if (partition === undefined) return;
    const id = partitionCheckpointId(partition);
    for (let attempt = 0; ; attempt++) {
      const stored = (await bulkGet(this.db, [id])).get(id) as PartitionCheckpointDoc | undefined;
      const next: PartitionCheckpointDoc = {
        _id: id,
        ...(stored?._rev ? { _rev: stored._rev } : {}),
        rd_cluster: 'checkpoint',
        partition,
        owner: this.options.member.id,
        epoch: lease.epoch,
        ...(stored?.seq === undefined ? {} : { seq: stored.seq }),
        code: stored?.code ?? {},
      };
      // A stale owner may write between the read and this write: read again.
      const result = await putDoc(this.db, next);
      if (result.ok) {
        this.state.set(partition, { partition, epoch: lease.epoch, rev: result.rev, since: stored?.seq, code: next.code });
        return;
      }
      if (attempt >= 5) throw new Error(`the checkpoint of partition ${partition} keeps changing under this worker`);
    }
  }

  lost(name: string): void {
    const partition = partitionOfLease(name);
    if (partition !== undefined) this.state.delete(partition);
  }

  /** Brings every held partition to the head of the feed, or stops after the batch in
   * hand when `stop` resolves. Returns the number of batches that did anything. */
  async pass(stop: Promise<void>): Promise<number> {
    const groups = new Map<string, { since: Seq | undefined; partitions: number[] }>();
    for (const s of this.state.values()) {
      // Code other than what it was processed with: the partition replays from the
      // start (provenance skips whatever is up to date).
      const since = this.sameCode(s.code) ? s.since : undefined;
      const key = JSON.stringify(since ?? null);
      const group = groups.get(key) ?? { since, partitions: [] };
      group.partitions.push(s.partition);
      groups.set(key, group);
    }
    let batches = 0;
    let stopped = false;
    void stop.then(() => (stopped = true));
    for (const group of groups.values()) {
      if (stopped) break;
      const follower = followChanges(this.db, {
        until: 'head',
        ...(group.since === undefined ? {} : { since: group.since }),
        includeDocs: true,
        batchSize: queueLimits.batchSize,
        logger: this.options.logger,
        onBatch: async (batch) => {
          const active = group.partitions.filter((p) => this.state.has(p) && this.options.member.holds(partitionLease(p)) && !this.options.member.unwanted.has(partitionLease(p)));
          if (active.length === 0) {
            void follower.stop();
            return;
          }
          if (await this.runBatch(active, batch)) batches++;
          if (stopped) void follower.stop();
        },
      });
      void stop.then(() => follower.stop());
      await follower.done;
    }
    return batches;
  }

  private sameCode(code: Record<string, string>): boolean {
    const keys = Object.keys(this.code);
    return keys.length === Object.keys(code).length && keys.every((k) => code[k] === this.code[k]);
  }

  private async runBatch(partitions: number[], batch: ChangesBatch): Promise<boolean> {
    const names = partitions.map(partitionLease);
    for (const n of names) this.options.member.busy.add(n);
    try {
      const wanted = new Set(partitions);
      const docs: CouchDoc[] = [];
      const deleted: string[] = [];
      for (const row of batch.rows) {
        if (isBookkeeping(row.id) || !wanted.has(partitionOfId(row.id, this.options.partitions))) continue;
        if (row.deleted) deleted.push(row.id);
        else if (row.doc) docs.push(row.doc);
      }
      const stats = docs.length + deleted.length > 0 ? await processBatch(this.options.ctx, { docs, deleted }) : { ran: 0, skipped: 0, failed: 0, written: 0 };
      // As in the single queue: a batch of nothing but coordination and checkpoint
      // documents does not write checkpoints (those writes would be the next such batch).
      const noise = batch.rows.every((r) => r.id.startsWith('rk!') || r.doc?.rd_schema_id === checkpointSchemaId);
      if (noise && stats.ran === 0 && stats.written === 0) {
        for (const p of partitions) {
          const s = this.state.get(p);
          if (s && this.sameCode(s.code)) s.since = batch.lastSeq;
        }
      } else {
        await this.commit(partitions, batch.lastSeq);
      }
      this.options.onBatch?.({ partitions, stats, changes: batch.rows.length });
      return stats.ran > 0 || stats.written > 0;
    } finally {
      for (const n of names) this.options.member.busy.delete(n);
    }
  }

  /** The fence: leases re-read and checked, then each checkpoint written with its `_rev`. */
  private async commit(partitions: number[], seq: Seq): Promise<void> {
    const leases = await bulkGet(this.db, partitions.map((p) => leaseDocId(partitionLease(p))));
    const now = Date.now();
    await Promise.all(partitions.map(async (p) => {
      const s = this.state.get(p);
      if (!s) return;
      const lease = leases.get(leaseDocId(partitionLease(p))) as LeaseDoc | undefined;
      const mine = lease?.owner === this.options.member.id && lease.epoch === s.epoch;
      // Still ours but close to running out (a long batch, a late heartbeat): a renewal
      // with its _rev proves nobody took it, and gives the commit its margin again.
      const renewed = mine && !leaseAllowsCommit(lease, this.options.member.id, s.epoch, now, this.options.member.timing.safetyMarginMs) && (await this.options.member.renewNow(partitionLease(p)));
      if (!renewed && !leaseAllowsCommit(lease, this.options.member.id, s.epoch, now, this.options.member.timing.safetyMarginMs)) {
        return this.refuse(p, `its lease moved on (now ${lease?.owner ?? 'nobody'}, epoch ${lease?.epoch ?? '-'})`);
      }
      const doc: PartitionCheckpointDoc = { _id: partitionCheckpointId(p), _rev: s.rev, rd_cluster: 'checkpoint', partition: p, owner: this.options.member.id, epoch: s.epoch, seq, code: this.code };
      const result = await putDoc(this.db, doc);
      if (!result.ok) return this.refuse(p, 'its checkpoint was rewritten by a newer owner (409)');
      s.rev = result.rev;
      s.since = seq;
      s.code = this.code;
    }));
  }

  private refuse(partition: number, why: string): void {
    this.state.delete(partition);
    const name = partitionLease(partition);
    this.options.member.held.delete(name);
    this.options.member.unwanted.delete(name);
    this.options.logger.warn(`commit refused for partition ${partition}: ${why}; its batch is redone by the owner`);
    this.options.onRefused?.(partition, why);
  }
}
