import { type Logger, onStop } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { type ChangesBatch, type Seq, followChanges } from '../couch/changes-follower.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { putDoc } from '../couch/put-doc.js';
import { checkpointSchemaId } from '../queue/checkpoints.js';
import { queueLimits } from '../queue/limits.js';
import { type BatchStats, type QueueContext, processBatch } from '../queue/process-batch.js';
import { isBookkeeping } from '../queue/provenance.js';
import { removeUnvisitedOutputs } from '../queue/stale-outputs.js';
import { extensionSchemaId } from '../queue/load-extensions.js';
import { removeUncommittedOutputs } from '../queue/commit-intent.js';
import { type LeaseDoc, type PartitionCheckpointDoc, aggregatesLease, leaseAllowsCommit, leaseDocId, unitCheckpointId, unitIntentId } from './documents.js';
import type { ClusterMember, HeldLease } from './member.js';
import { partitionOfId } from './partition.js';
import { editedExtensions, splitExtensions } from './work-classes.js';

type WorkClass = 'partitioned' | 'aggregate';

interface UnitState {
  /** The lease name: `partition:<n>` or `queue:aggregates`. */
  unit: string;
  workClass: WorkClass;
  /** For a partition: its number (rows of other partitions are not its work). */
  partition?: number;
  epoch: number;
  /** The checkpoint document's revision as this owner last wrote it: the fence. */
  rev: string;
  /** Where the next read starts (ahead of the stored checkpoint after batches of
   * nothing but coordination documents, which do not write one). */
  since: Seq | undefined;
  /** The position in the stored checkpoint. */
  storedSince: Seq | undefined;
  code: Record<string, string>;
  /** Every installed extension's code when this unit was last committed (both kinds of
   * work): an edit that moves an extension to the other kind is still an edit. */
  installed: Record<string, string>;
  /** Edited extensions whose stale outputs this unit still has to remove (see documents.ts). */
  replaced: string[];
}

export interface PartitionQueueOptions {
  ctx: QueueContext;
  member: ClusterMember;
  partitions: number;
  logger: Logger;
  onBatch?: (info: { units: string[]; stats: BatchStats; changes: number }) => void;
  /** A batch with work for this worker begins (for --verbose and tests). */
  onBatchStart?: (info: { units: string[]; changes: number }) => void;
  /** After a batch of the aggregates unit is written (before its checkpoint), with its documents: that unit reads
   * the whole feed on one worker at a time, so what must happen once per change of the
   * whole database (retry requests) happens there, between its batches. */
  afterAggregatesBatch?: (docs: readonly CouchDoc[]) => Promise<void>;
}

const partitionOfUnit = (name: string): number | undefined => (name.startsWith('partition:') ? Number(name.slice(10)) : undefined);

/**
 * The work queue of one worker of several. Two kinds of work (work-classes.ts): the
 * per-key extensions run on the feed rows whose key falls in a partition the worker
 * holds, one checkpoint per partition; the cross-key (aggregate) extensions run on the
 * whole feed in the one worker holding `queue:aggregates`, with a checkpoint of their
 * own. Units of one kind at the same feed position share one reader.
 *
 * Fencing: taking a unit writes its checkpoint document first (with the new epoch),
 * which changes its `_rev`; every batch then re-reads its leases and writes the
 * checkpoint with the `_rev` it holds; the leases are also checked right before the
 * batch's output writes. An owner whose lease moved on gets a 409 (or sees the lease
 * gone) and drops the unit; the new owner redoes the batch from the checkpoint it found.
 * CouchDB has no multi-document transaction: a pause between the check and the output
 * writes can still land them (see README.md for what that costs).
 */
export class PartitionQueue {
  private readonly state = new Map<string, UnitState>();
  private classes!: Record<WorkClass, { ctx: QueueContext; code: Record<string, string> }>;
  private installed: Record<string, string> = {};

  constructor(private readonly options: PartitionQueueOptions) {
    this.useContext(options.ctx);
  }

  /** Runs the next batches with other extensions (the worker started a new queue for
   * what is installed now), under the same leases and checkpoints: a unit whose
   * checkpoint names other code replays, as after any edit. Only between passes. */
  useContext(ctx: QueueContext): void {
    const split = splitExtensions(ctx.ordered);
    const cls = (ordered: QueueContext['ordered']) => ({ ctx: { ...ctx, ordered }, code: Object.fromEntries(ordered.map((e) => [e.declaration.id, e.codeHash])) });
    this.classes = { partitioned: cls(split.partitioned), aggregate: cls(split.aggregate) };
    this.installed = { ...this.classes.partitioned.code, ...this.classes.aggregate.code };
  }

  /** The extensions of each kind of work (for the log and `status`). */
  get workClasses(): Record<WorkClass, string[]> {
    return { partitioned: Object.keys(this.classes.partitioned.code), aggregate: Object.keys(this.classes.aggregate.code) };
  }

  private get db(): Db {
    return this.options.ctx.db;
  }

  /** Set when a batch carried an extension document (an install or an edit): the worker
   * then checks whether its queue runs what is installed. Cleared by the reader. */
  sawExtensionChange = false;

  held(): string[] {
    return [...this.state.keys()].sort();
  }

  /** Takes a unit: its checkpoint is rewritten under the new epoch before any work. */
  async acquired(lease: HeldLease): Promise<void> {
    const partition = partitionOfUnit(lease.name);
    if (partition === undefined && lease.name !== aggregatesLease) return;
    const id = unitCheckpointId(lease.name);
    for (let attempt = 0; ; attempt++) {
      const stored = (await bulkGet(this.db, [id])).get(id) as PartitionCheckpointDoc | undefined;
      const next: PartitionCheckpointDoc = {
        _id: id,
        ...(stored?._rev ? { _rev: stored._rev } : {}),
        rd_cluster: 'checkpoint',
        unit: lease.name,
        owner: this.options.member.id,
        epoch: lease.epoch,
        ...(stored?.seq === undefined ? {} : { seq: stored.seq }),
        code: stored?.code ?? {},
        // Checkpoints written before `installed` existed know only their own kind's code.
        installed: stored?.installed ?? stored?.code ?? {},
        ...(stored?.replaced?.length ? { replaced: stored.replaced } : {}),
      };
      // A stale owner may write between the read and this write: read again.
      const result = await putDoc(this.db, next);
      if (result.ok) {
        // The last owner's batch may have died between its outputs and its provenance;
        // cross-key work rerun now may not make those outputs again (commit-intent.ts).
        if (lease.name === aggregatesLease) {
          const removed = await removeUncommittedOutputs(this.db, unitIntentId(aggregatesLease));
          if (removed > 0) this.options.logger.info(`${aggregatesLease}: removed ${removed} outputs the last owner wrote and never vouched for`);
        }
        this.state.set(lease.name, { unit: lease.name, workClass: partition === undefined ? 'aggregate' : 'partitioned', ...(partition === undefined ? {} : { partition }), epoch: lease.epoch, rev: result.rev, since: stored?.seq, storedSince: stored?.seq, code: next.code, installed: next.installed ?? next.code, replaced: next.replaced ?? [] });
        return;
      }
      if (attempt >= 5) throw new Error(`the checkpoint of ${lease.name} keeps changing under this worker`);
    }
  }

  /** After a failed batch: every unit reads again from its stored checkpoint (the
   * position in memory may be ahead of it). */
  rewind(): void {
    for (const s of this.state.values()) s.since = s.storedSince;
  }

  lost(name: string): void {
    this.state.delete(name);
  }

  /** Brings every held unit to the head of the feed, or stops after the batch in hand
   * when `stop` resolves. Returns the number of batches that did anything. */
  async pass(stop: Promise<void>): Promise<number> {
    const groups = new Map<string, { workClass: WorkClass; since: Seq | undefined; units: string[]; epochs: Map<string, number> }>();
    for (const s of this.state.values()) {
      // Code other than what it was processed with: the unit replays from the start
      // (provenance skips whatever is up to date), and then removes what the edited
      // extensions' old code made and the new code does not.
      const same = this.sameCode(s.workClass, s.code);
      if (!same) s.replaced = editedExtensions(s.installed, this.classes[s.workClass].code, s.replaced);
      const since = same ? s.since : undefined;
      const key = `${s.workClass} ${JSON.stringify(since ?? null)}`;
      const group = groups.get(key) ?? { workClass: s.workClass, since, units: [] as string[], epochs: new Map<string, number>() };
      group.units.push(s.unit);
      group.epochs.set(s.unit, s.epoch);
      groups.set(key, group);
    }
    let batches = 0;
    let stopped = false;
    // Registered per pass and removed at its end: a pass runs every second when idle.
    const offStop = onStop(stop, () => (stopped = true));
    try {
    for (const group of groups.values()) {
      if (stopped) break;
      // Stopped before the head (a stop, a refused batch, units lost): no replay ended.
      let cut = false;
      // Units left out of some batch (lost, or about to be handed over) did not replay all of it.
      const skipped = new Set<string>();
      const follower = followChanges(this.db, {
        until: 'head',
        ...(group.since === undefined ? {} : { since: group.since }),
        includeDocs: true,
        batchSize: queueLimits.batchSize,
        logger: this.options.logger,
        onBatch: async (batch) => {
          const member = this.options.member;
          // Only units still held under the epoch the group began with: a unit lost and
          // taken again meanwhile starts from its own checkpoint, not from this reader's
          // position (it would skip the rows in between).
          const active = group.units.filter((u) => this.state.get(u)?.epoch === group.epochs.get(u) && member.holds(u) && !member.unwanted.has(u));
          for (const u of group.units) if (!active.includes(u)) skipped.add(u);
          if (active.length === 0) {
            cut = true;
            void follower.stop();
            return;
          }
          const outcome = await this.runBatch(group.workClass, active, batch);
          if (outcome === 'refused') {
            // Some unit of the batch was refused, so none of its rows were written: the
            // units still held must read this batch again, not go on past it.
            for (const u of active) {
              const s = this.state.get(u);
              if (s) s.since = s.storedSince;
            }
            cut = true;
            void follower.stop();
            return;
          }
          if (outcome === 'worked') batches++;
          if (stopped) {
            cut = true;
            void follower.stop();
          }
        },
      });
      const offFollower = onStop(stop, () => void follower.stop());
      await follower.done.finally(offFollower);
      if (!stopped && !cut) await this.removeReplacedOutputs(group.workClass, group.units.filter((u) => !skipped.has(u)), group.epochs);
    }
    } finally {
      offStop();
    }
    return batches;
  }

  private sameCode(workClass: WorkClass, code: Record<string, string>): boolean {
    const mine = this.classes[workClass].code;
    const keys = Object.keys(mine);
    return keys.length === Object.keys(code).length && keys.every((k) => code[k] === mine[k]);
  }

  private async runBatch(workClass: WorkClass, units: string[], batch: ChangesBatch): Promise<'worked' | 'idle' | 'refused'> {
    for (const u of units) this.options.member.busy.add(u);
    // The fence binds the batch to the epochs it began under: a unit lost and taken
    // again while the batch ran (a pause) has a new epoch that this batch must not use.
    const epochs = new Map(units.map((u) => [u, this.state.get(u)?.epoch ?? -1]));
    try {
      const partitions = new Set(units.map(partitionOfUnit).filter((p): p is number => p !== undefined));
      const docs: CouchDoc[] = [];
      const deleted: string[] = [];
      for (const row of batch.rows) {
        if (isBookkeeping(row.id)) continue;
        if (row.doc?.rd_schema_id === extensionSchemaId) this.sawExtensionChange = true;
        if (workClass === 'partitioned' && !partitions.has(partitionOfId(row.id, this.options.partitions))) continue;
        if (row.deleted) deleted.push(row.id);
        else if (row.doc) docs.push(row.doc);
      }
      const cls = this.classes[workClass];
      if (docs.length + deleted.length > 0) this.options.onBatchStart?.({ units, changes: docs.length + deleted.length });
      // The outputs are fenced too, not only the checkpoint: a late owner's read-modify-
      // write of a shared count (the aggregates) would count a message twice.
      const beforeCommit = async () => (await this.fenceHolds(units, epochs)).length === units.length;
      const stats = docs.length + deleted.length > 0 && cls.ctx.ordered.length > 0 ? await processBatch(cls.ctx, { docs, deleted }, { beforeCommit, ...(workClass === 'aggregate' ? { intentId: unitIntentId(aggregatesLease) } : {}) }) : { ran: 0, skipped: 0, failed: 0, written: 0 };
      if (stats.refused) {
        this.options.onBatch?.({ units, stats, changes: batch.rows.length });
        return 'refused';
      }
      // As in the single queue: a batch of nothing but coordination and checkpoint
      // documents does not write checkpoints (those writes would be the next such batch).
      const noise = batch.rows.every((r) => r.id.startsWith('rk!') || r.doc?.rd_schema_id === checkpointSchemaId);
      if (noise && stats.ran === 0 && stats.written === 0) {
        for (const u of units) {
          const s = this.state.get(u);
          if (s && this.sameCode(workClass, s.code)) s.since = batch.lastSeq;
        }
      } else {
        // Before the checkpoint, as in the single queue: a request is deleted once done, so
        // a crash in between leaves it on the feed for the next owner.
        if (workClass === 'aggregate' && this.options.member.holds(aggregatesLease)) await this.options.afterAggregatesBatch?.(docs);
        await this.commit(workClass, units, batch.lastSeq, epochs);
      }
      this.options.onBatch?.({ units, stats, changes: batch.rows.length });
      return stats.ran > 0 || stats.written > 0 ? 'worked' : 'idle';
    } finally {
      for (const u of units) this.options.member.busy.delete(u);
    }
  }

  /** The fence: each unit's lease re-read; the units still held under the epoch the
   * batch began with (others are refused and dropped, or skipped when taken again). */
  private async fenceHolds(units: string[], epochs: ReadonlyMap<string, number>): Promise<string[]> {
    const member = this.options.member;
    const leases = await bulkGet(this.db, units.map(leaseDocId));
    const now = Date.now();
    const ok: string[] = [];
    for (const u of units) {
      const s = this.state.get(u);
      if (!s) {
        this.refuse(u, 'its lease was lost while the batch ran');
        continue;
      }
      if (s.epoch !== epochs.get(u)) {
        // Taken again meanwhile: the new epoch starts from the checkpoint it found.
        this.options.logger.warn(`commit refused for ${u}: the batch began under epoch ${epochs.get(u)}, the lease is now at ${s.epoch}; the rows are read again`);
        continue;
      }
      const lease = leases.get(leaseDocId(u)) as LeaseDoc | undefined;
      const allows = () => leaseAllowsCommit(lease, member.id, s.epoch, now, member.timing.safetyMarginMs);
      // Still ours but close to running out (a long batch, a late heartbeat): a renewal
      // with its _rev proves nobody took it, and gives the commit its margin again.
      const mine = lease?.owner === member.id && lease.epoch === s.epoch;
      const renewed = mine && !allows() && (await member.renewNow(u));
      if (!renewed && !allows()) {
        this.refuse(u, `its lease moved on (now ${lease?.owner ?? 'nobody'}, epoch ${lease?.epoch ?? '-'})`);
        continue;
      }
      ok.push(u);
    }
    return ok;
  }

  /** The checkpoints of the units still held, each written with its `_rev`. */
  private async commit(workClass: WorkClass, units: string[], seq: Seq, epochs: ReadonlyMap<string, number>): Promise<void> {
    const member = this.options.member;
    const code = this.classes[workClass].code;
    const held = await this.fenceHolds(units, epochs);
    await Promise.all(held.map(async (u) => {
      const s = this.state.get(u);
      if (!s) return;
      const doc: PartitionCheckpointDoc = { _id: unitCheckpointId(u), _rev: s.rev, rd_cluster: 'checkpoint', unit: u, owner: member.id, epoch: s.epoch, seq, code, installed: this.installed, ...(s.replaced.length > 0 ? { replaced: s.replaced } : {}) };
      const result = await putDoc(this.db, doc);
      if (!result.ok) return this.refuse(u, 'its checkpoint was rewritten by a newer owner (409)');
      s.rev = result.rev;
      s.since = seq;
      s.storedSince = seq;
      s.code = code;
      s.installed = this.installed;
    }));
  }

  /** After a reader reached the head: units that replayed edited extensions under the
   * new code (and are still held under the same epoch) remove the outputs of sources the
   * new code no longer visits, in their own partition, then record that in their
   * checkpoint. */
  private async removeReplacedOutputs(workClass: WorkClass, units: readonly string[], epochs: ReadonlyMap<string, number>): Promise<void> {
    const cls = this.classes[workClass];
    for (const u of units) {
      const s = this.state.get(u);
      if (!s || s.replaced.length === 0 || s.epoch !== epochs.get(u) || !this.sameCode(workClass, s.code) || s.storedSince === undefined) continue;
      if ((await this.fenceHolds([u], epochs)).length === 0) continue;
      const ofSource = s.partition === undefined ? undefined : (id: string) => partitionOfId(id, this.options.partitions) === s.partition;
      for (const ext of cls.ctx.ordered.filter((e) => s.replaced.includes(e.declaration.id))) {
        const removed = await removeUnvisitedOutputs(cls.ctx, ext, ofSource);
        if (removed > 0) this.options.logger.info(`removed ${removed} outputs of ${ext.declaration.id} that its new code no longer makes (${u})`);
      }
      s.replaced = [];
      await this.commit(workClass, [u], s.storedSince, epochs);
    }
  }

  private refuse(unit: string, why: string): void {
    this.state.delete(unit);
    this.options.member.held.delete(unit);
    this.options.member.unwanted.delete(unit);
    this.options.logger.warn(`commit refused for ${unit}: ${why}; its batch is redone by the owner`);
  }
}
