import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { type Logger, sleepUnlessStopped } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import { getDoc } from '../couch/bulk-get.js';
import { putDoc } from '../couch/put-doc.js';
import { dropLosingRevisions, listByPrefix } from './coordination-store.js';
import { coordinationPrefix } from '../queue/provenance.js';
import { type LeaseDoc, type WorkerDoc, type WorkerRole, drainRequestId, isLive, leaseDocId, leaseIsFree, leasePrefix, takenLease, workerDocId } from './documents.js';
import { type ClusterTiming, clusterLimits, defaultTiming } from './limits.js';
import { rendezvousOwner } from './rendezvous.js';

/** Something to own: a lease name and the role a worker must offer to own it. */
export interface Claim {
  name: string;
  role: WorkerRole;
}

export interface HeldLease {
  name: string;
  epoch: number;
  rev: string;
  /** Expiry as last written with a quorum, by this worker's clock. */
  expires: number;
}

export interface MemberOptions {
  db: Db;
  logger: Logger;
  roles: readonly WorkerRole[];
  claims: readonly Claim[];
  timing?: Partial<ClusterTiming>;
  /** Called once a lease is taken, before anything is done under it (the partition
   * queue writes the partition's checkpoint there: that write is the fence). */
  onAcquired?: (lease: HeldLease) => Promise<void>;
  /** Called when a lease is lost or released. */
  onLost?: (name: string, why: string) => void;
}

type CoordinationListing = { _id: string; rd_cluster?: string; _conflicts?: string[] };


/**
 * One worker's membership: its announcement (renewed every heartbeat) and its leases,
 * rebalanced every heartbeat: a lease the rendezvous choice over the live workers gives
 * to this worker is taken when free; one it gives to another live worker is released
 * (once the work in hand under it is done: `busy`); held ones are renewed.
 */
export class ClusterMember {
  readonly id: string;
  readonly timing: ClusterTiming;
  readonly held = new Map<string, HeldLease>();
  /** Leases whose work is in hand: not released until it is done. */
  readonly busy = new Set<string>();
  /** Held leases another live worker should own: released when not busy. */
  readonly unwanted = new Set<string>();
  private doc: WorkerDoc;
  private loop: Promise<void> | undefined;
  private stopLoop!: () => void;
  private readonly loopStopped = new Promise<void>((r) => (this.stopLoop = r));
  private draining = false;
  live: WorkerDoc[] = [];

  private constructor(private readonly options: MemberOptions) {
    this.timing = { ...defaultTiming, ...options.timing };
    const host = hostname();
    this.id = `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const now = Date.now();
    this.doc = { _id: workerDocId(this.id), rd_cluster: 'worker', worker: this.id, host, pid: process.pid, roles: [...options.roles], started: now, heartbeat: now, draining: false, partitions: [], leases: [] };
  }

  /** A member not yet announced: `tick` announces it and takes its first share. */
  static create(options: MemberOptions): ClusterMember {
    return new ClusterMember(options);
  }

  /** Resolves when this worker is asked to drain (here or by "raindrop worker --drain ID"
   * from anywhere: the flag on its worker document). */
  // Declared before the promise: a class field declared after it would reset it.
  private resolveDrain!: () => void;
  readonly drainRequested = new Promise<void>((r) => (this.resolveDrain = r));

  /** Renews heartbeat and leases every heartbeat until `leave`. */
  start(): void {
    let stopped = false;
    void this.loopStopped.then(() => (stopped = true));
    this.loop ??= (async () => {
      while (!stopped) {
        await sleepUnlessStopped(this.timing.heartbeatMs, this.loopStopped);
        if (stopped) return;
        try {
          await this.tick();
        } catch (err) {
          this.options.logger.warn('cluster heartbeat failed; trying again', { error: (err as Error).message });
        }
      }
    })();
  }

  /** Whether the lease is held with at least the safety margin left. */
  holds(name: string, now = Date.now()): boolean {
    const lease = this.held.get(name);
    return lease !== undefined && lease.expires - now >= this.timing.safetyMarginMs;
  }

  /** One heartbeat: announce, list the live workers, rebalance. */
  async tick(): Promise<void> {
    const now = Date.now();
    // One read of every coordination document per heartbeat: drain requests, workers,
    // leases, and any losing revisions a cluster kept of them, which are removed here.
    const all = await listByPrefix<CoordinationListing>(this.options.db, coordinationPrefix, { conflicts: true });
    if (!this.draining && all.some((d) => d._id === drainRequestId(this.id))) {
      this.options.logger.info('asked to drain: finishing the batches in hand, then leaving');
      this.drain();
    }
    await this.announce(now);
    const removed = await dropLosingRevisions(this.options.db, all.filter((d) => (d._conflicts?.length ?? 0) > 0));
    if (removed > 0) this.options.logger.info(`removed ${removed} losing revision(s) of coordination documents (writes raced through different cluster nodes)`);
    const workers = all.filter((d): d is WorkerDoc & CoordinationListing => d.rd_cluster === 'worker');
    this.live = workers.filter((w) => isLive(w, now, this.timing.liveMs));
    // A worker killed without leaving stays listed (status shows it dead) for a while,
    // then the others forget it: restarts would otherwise pile up announcements.
    for (const gone of workers.filter((w) => now - w.heartbeat > this.timing.liveMs * clusterLimits.forgetDeadAfterLiveTimes)) {
      if (gone._rev) await putDoc(this.options.db, { _id: gone._id, _rev: gone._rev, _deleted: true });
    }
    const liveIds = new Set(this.live.map((w) => w.worker));
    if (!this.draining) liveIds.add(this.id);
    const leases = new Map(all.filter((d): d is LeaseDoc & CoordinationListing => d.rd_cluster === 'lease').map((l) => [l.name, l]));
    const candidates = (role: WorkerRole) => [...liveIds].filter((id) => (id === this.id ? this.options.roles.includes(role) : this.live.find((w) => w.worker === id)?.roles.includes(role)));
    // Every claim's write is independent of the others: they go at once, so a takeover of
    // a dead worker's share costs one round of requests, not three per partition in a row.
    const outcomes = await Promise.allSettled(
      this.options.claims.filter((claim) => this.options.roles.includes(claim.role)).map(async (claim) => {
        const owner = this.draining ? undefined : rendezvousOwner(claim.name, candidates(claim.role));
        const held = this.held.get(claim.name);
        if (held) {
          if (owner !== this.id) {
            this.unwanted.add(claim.name);
            if (!this.busy.has(claim.name)) return this.release(claim.name, this.draining ? 'draining' : `rebalanced to ${owner ?? 'nobody'}`);
          } else this.unwanted.delete(claim.name);
          return this.renew(held);
        }
        if (owner === this.id && leaseIsFree(leases.get(claim.name), this.id, now, liveIds)) return this.acquire(claim.name, leases.get(claim.name));
      }),
    );
    // What the others read must follow a take or a release now, not a heartbeat later:
    // until then `status` would show a released lease under two workers.
    const after = Date.now();
    if (holdings(this.doc) !== holdings(this.nextDoc(after))) await this.announce(after);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Draining: takes nothing new; the next ticks release every lease not busy. */
  drain(): void {
    this.draining = true;
    this.resolveDrain();
  }

  /** Releases every lease and removes the announcement (after the work in hand). */
  async leave(): Promise<void> {
    this.draining = true;
    this.stopLoop();
    await this.loop;
    for (const name of [...this.held.keys()]) await this.release(name, 'leaving').catch((err: unknown) => this.options.logger.warn(`could not release ${name}; it runs out by itself`, { error: (err as Error).message }));
    await this.releaseStrayLeases().catch((err: unknown) => this.options.logger.warn('could not look for leases that still name this worker; they run out by themselves', { error: (err as Error).message }));
    const request = await getDoc(this.options.db, drainRequestId(this.id)).catch(() => undefined);
    if (request?._rev) await putDoc(this.options.db, { _id: request._id, _rev: request._rev, _deleted: true }).catch(() => undefined);
    // Gone means every revision, as read after the delete: a heartbeat written through two
    // nodes leaves a losing revision, which becomes the winner once the winner is deleted,
    // and the others then read a worker that left as one still there (CI saw a drained
    // worker exit 0 with its announcement in place). A read may also lag a write (a 409 on
    // the delete): read again after a pause.
    for (let attempt = 0; ; attempt++) {
      const [current] = (await listByPrefix<WorkerDoc & { _rev?: string; _conflicts?: string[] }>(this.options.db, this.doc._id, { conflicts: true })).filter((d) => d._id === this.doc._id);
      if (!current?._rev) return;
      if (attempt >= clusterLimits.leaveAttempts) break;
      await dropLosingRevisions(this.options.db, [current]);
      await putDoc(this.options.db, { _id: this.doc._id, _rev: current._rev, _deleted: true });
      await new Promise((resolve) => setTimeout(resolve, clusterLimits.leaveRetryMs * attempt));
    }
    this.options.logger.warn('could not remove this worker\'s announcement; the others forget it when it is old');
  }

  async release(name: string, why: string): Promise<void> {
    // A renewal in flight (a batch's fence) would change the revision under the release.
    await this.renewing.get(name);
    const held = this.held.get(name);
    if (!held) return;
    this.held.delete(name);
    this.unwanted.delete(name);
    this.options.onLost?.(name, why);
    if (await this.writeRelease(name, held.epoch, held.rev)) this.options.logger.info(`released ${name} (${why})`);
  }

  /**
   * Writes the lease free under its epoch (the next owner bumps it). A 409 means someone
   * took it already, or a write of ours whose answer was lost, or a node that had not seen
   * our last renewal: read, and release again only while it still names this worker
   * under this epoch. True when this write freed it.
   */
  private async writeRelease(name: string, epoch: number, rev: string): Promise<boolean> {
    for (let attempt = 0; attempt < clusterLimits.releaseAttempts; attempt++) {
      if ((await putDoc(this.options.db, { _id: leaseDocId(name), _rev: rev, rd_cluster: 'lease', name, owner: null, epoch, expires: 0 })).ok) return true;
      const current = (await getDoc(this.options.db, leaseDocId(name))) as LeaseDoc | undefined;
      if (!current?._rev || current.owner !== this.id || current.epoch !== epoch) return false;
      rev = current._rev;
    }
    this.options.logger.warn(`could not release ${name}; it runs out by itself`);
    return false;
  }

  /**
   * On leaving, after the held leases: every lease the database still gives to this
   * worker although it no longer counts it as held. A write whose answer was lost (a 409
   * on a renewal or a checkpoint that our own earlier write caused, a take without the
   * cluster's quorum) makes this worker let go of a lease that still names it; running, it
   * takes such a lease again at its next heartbeat, but a draining worker takes nothing, so
   * without this the lease would stay named after a worker that exited.
   */
  private async releaseStrayLeases(): Promise<void> {
    const stray = (await listByPrefix<LeaseDoc>(this.options.db, leasePrefix)).filter((l) => l.owner === this.id && l._rev !== undefined);
    for (const lease of stray) {
      if (await this.writeRelease(lease.name, lease.epoch, lease._rev as string)) this.options.logger.info(`released ${lease.name}, which still named this worker after it had let go of it`);
    }
  }

  /** The announcement as of `now`: a lease whose time ran out (a tick late on a loaded
   * machine) is not claimed, since another worker may already have taken it. */
  private nextDoc(now: number): WorkerDoc {
    const names = [...this.held.values()].filter((l) => l.expires > now).map((l) => l.name);
    return { ...this.doc, heartbeat: now, draining: this.draining, partitions: names.filter((n) => n.startsWith('partition:')).map((n) => Number(n.slice(10))).sort((a, b) => a - b), leases: names.filter((n) => !n.startsWith('partition:')).sort() };
  }

  private async announce(now: number): Promise<void> {
    const next = this.nextDoc(now);
    let result = await putDoc(this.options.db, next);
    if (!result.ok) {
      // A write of ours lost its answer (or a cluster node lagged): read, write again.
      const stored = (await getDoc(this.options.db, next._id)) as WorkerDoc | undefined;
      result = await putDoc(this.options.db, { ...next, ...(stored?._rev ? { _rev: stored._rev } : {}) });
    }
    if (result.ok) this.doc = { ...next, _rev: result.rev };
  }

  private async acquire(name: string, current: LeaseDoc | undefined): Promise<void> {
    const now = Date.now();
    const next = takenLease(name, current, this.id, now, this.timing.leaseMs);
    const result = await putDoc(this.options.db, next);
    if (!result.ok) return; // someone else was faster: a value, not a failure
    if (!result.quorum) {
      this.options.logger.warn(`took ${name} without the cluster's write quorum; not using it`);
      return;
    }
    const lease: HeldLease = { name, epoch: next.epoch, rev: result.rev, expires: next.expires };
    this.held.set(name, lease);
    try {
      await this.options.onAcquired?.(lease);
      this.options.logger.info(`took ${name} (epoch ${lease.epoch}${current?.owner && current.owner !== this.id ? `, from ${current.owner}` : ''})`);
    } catch (err) {
      this.held.delete(name);
      this.options.logger.warn(`could not start ${name}; leaving it`, { error: (err as Error).message });
    }
  }

  /** Renews a held lease at once (the fence, when a batch ran close to its expiry):
   * true when it is still this worker's. */
  async renewNow(name: string): Promise<boolean> {
    const held = this.held.get(name);
    if (!held) return false;
    await this.renew(held);
    return this.holds(name);
  }

  /** A renewal in flight per lease: a batch's fence and the heartbeat may renew the same
   * lease at once, and two writes with the same `_rev` would make one of them look lost. */
  private readonly renewing = new Map<string, Promise<void>>();

  private renew(held: HeldLease): Promise<void> {
    const inFlight = this.renewing.get(held.name);
    if (inFlight) return inFlight;
    const renewal = this.writeRenewal(held).finally(() => this.renewing.delete(held.name));
    this.renewing.set(held.name, renewal);
    return renewal;
  }

  private async writeRenewal(held: HeldLease): Promise<void> {
    const now = Date.now();
    const result = await putDoc(this.options.db, { _id: leaseDocId(held.name), _rev: held.rev, rd_cluster: 'lease', name: held.name, owner: this.id, epoch: held.epoch, expires: now + this.timing.leaseMs });
    if (!result.ok) {
      this.held.delete(held.name);
      this.unwanted.delete(held.name);
      this.options.onLost?.(held.name, 'taken by another worker');
      this.options.logger.warn(`lost ${held.name}: another worker took it (this one was too slow to renew)`);
      return;
    }
    held.rev = result.rev;
    if (result.quorum) held.expires = now + this.timing.leaseMs;
  }
}

/** What an announcement says the worker holds, to compare two of them. */
function holdings(doc: WorkerDoc): string {
  return JSON.stringify([doc.partitions, doc.leases, doc.draining]);
}
