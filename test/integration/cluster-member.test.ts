/**
 * A worker's membership against a real server: it announces itself and takes the leases
 * rendezvous gives it, and it removes the losing revisions a cluster keeps when two
 * writes of one lease race through different nodes (made here as replication makes them:
 * a sibling revision written with `new_edits: false`), while the winner stays in force.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/index.js';
import { ClusterMember } from '../../src/cluster/member.js';
import { leaseDocId, type LeaseDoc, type WorkerDoc, workerDocId } from '../../src/cluster/documents.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { clusterStatus } from '../../src/cluster/cluster-status.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('member');
let member: ClusterMember | undefined;
let other: ClusterMember | undefined;

afterAll(async () => {
  await member?.leave();
  await other?.leave();
});

const withConflicts = async (id: string) => (await t.db.scope.get(id, { conflicts: true })) as unknown as LeaseDoc & { _conflicts?: string[] };

describe('a cluster member', () => {
  it('takes its leases, and removes a lease\'s losing revision while keeping the winner', async () => {
    member = ClusterMember.create({ db: t.db, logger: silentLogger, roles: ['process'], claims: [{ name: 'partition:3', role: 'process' }, { name: 'sender', role: 'send' }] });
    await member.tick();
    expect([...member.held.keys()]).toEqual(['partition:3']); // not 'sender': it does not offer that role
    const lease = await withConflicts(leaseDocId('partition:3'));
    expect(lease).toMatchObject({ owner: member.id, epoch: 1 });

    // A sibling of the current revision, as a write through another node leaves it: the
    // same generation, another hash, another owner. One of the two wins by CouchDB's rule.
    const generation = Number((lease._rev as string).split('-')[0]);
    const sibling = { ...lease, _rev: `${generation}-${'f'.repeat(32)}`, owner: 'elsewhere-1-000000', expires: 0 };
    delete (sibling as { _conflicts?: string[] })._conflicts;
    await t.db.scope.bulk({ docs: [sibling], new_edits: false });
    const raced = await withConflicts(leaseDocId('partition:3'));
    expect(raced._conflicts, 'the race left a conflict').toHaveLength(1);

    await member.tick();
    const after = await withConflicts(leaseDocId('partition:3'));
    expect(after._conflicts ?? []).toEqual([]);
    // 'f…' sorts above any real hash, so the sibling won; the member's own revision was
    // the loser and is gone: its renewal found a 409 and it let the lease go, as when a
    // takeover wins. At the next heartbeat it takes the lease again under a new epoch.
    expect(after.owner === member.id || after.owner === 'elsewhere-1-000000').toBe(true);
    await member.tick();
    const retaken = await withConflicts(leaseDocId('partition:3'));
    expect(retaken._conflicts ?? []).toEqual([]);
    expect(retaken).toMatchObject({ owner: member.id });
    expect(retaken.epoch).toBeGreaterThan(1);
    expect(member.holds('partition:3')).toBe(true);
  });

  it('keeps a lease that a batch\'s fence and the heartbeat renew at the same moment', async () => {
    await member?.leave();
    member = undefined;
    other = ClusterMember.create({ db: t.db, logger: silentLogger, roles: ['process'], claims: Array.from({ length: 8 }, (_, n) => ({ name: `partition:${n + 8}`, role: 'process' as const })) });
    await other.tick();
    expect(other.held.size, 'a lone worker takes every partition in one heartbeat').toBe(8);
    const revs = new Map([...other.held.values()].map((l) => [l.name, l.rev]));
    // Both write the lease with the revision in hand; without one renewal in flight per
    // lease, the second write is a 409 and the worker drops a lease nobody else wants.
    const renewed = await Promise.all([other.renewNow('partition:8'), other.renewNow('partition:8'), other.tick(), other.renewNow('partition:9')]);
    expect(renewed.slice(0, 2)).toEqual([true, true]);
    expect([...other.held.keys()].sort()).toEqual([...revs.keys()].sort());
    for (const lease of other.held.values()) expect(lease.rev, lease.name).not.toBe(revs.get(lease.name));
    const stored = await withConflicts(leaseDocId('partition:8'));
    expect(stored).toMatchObject({ owner: other.id, epoch: 1, _rev: other.held.get('partition:8')?.rev });
  });

  it('releases on leaving a lease it let go of that still names it (a write whose answer was lost)', async () => {
    await other?.leave();
    other = undefined;
    member = ClusterMember.create({ db: t.db, logger: silentLogger, roles: ['process'], claims: [{ name: 'partition:20', role: 'process' }] });
    await member.tick();
    const taken = await withConflicts(leaseDocId('partition:20'));
    expect(taken).toMatchObject({ owner: member.id });
    // A renewal of this worker's that landed but whose answer never came back: the stored
    // revision moved on and still names this worker.
    await t.db.scope.insert({ ...taken, expires: Date.now() + 8_000 } as LeaseDoc);
    await member.tick();
    expect(member.holds('partition:20'), 'the renewal met a 409 and let the lease go').toBe(false);
    expect(await withConflicts(leaseDocId('partition:20'))).toMatchObject({ owner: member.id });
    await member.leave();
    member = undefined;
    expect(await withConflicts(leaseDocId('partition:20'))).toMatchObject({ owner: null, expires: 0 });
  });

  it('leaves no announcement behind when its document has a losing revision (a heartbeat written through two nodes)', async () => {
    member = ClusterMember.create({ db: t.db, logger: silentLogger, roles: ['process'], claims: [{ name: 'partition:30', role: 'process' }] });
    await member.tick();
    const id = workerDocId(member.id);
    const announced = (await t.db.scope.get(id)) as unknown as WorkerDoc;
    // A sibling of the current revision, as a heartbeat through another node leaves it;
    // its hash sorts below the real one's, so it loses and stays as a conflict.
    const generation = Number((announced._rev as string).split('-')[0]);
    await t.db.scope.bulk({ docs: [{ ...announced, _rev: `${generation}-${'0'.repeat(32)}`, heartbeat: announced.heartbeat - 1 }], new_edits: false });
    expect(((await t.db.scope.get(id, { conflicts: true })) as { _conflicts?: string[] })._conflicts).toHaveLength(1);
    await member.leave();
    member = undefined;
    // Deleting only the winner would bring the loser back as the winner: a worker that
    // left, read by the others as one still there.
    expect(await getDoc(t.db, id)).toBeUndefined();
  });

  it('a worker whose heartbeat came too late shows no lease another took, and announces a take or release in the same tick', async () => {
    // Ticks are called by hand; the times leave a loaded machine room between the steps.
    const timing = { heartbeatMs: 100, liveMs: 1_500, leaseMs: 1_000, safetyMarginMs: 50 };
    const claims = [{ name: 'account:t', role: 'fetch' as const }];
    const late = ClusterMember.create({ db: t.db, logger: silentLogger, roles: ['fetch'], claims, timing });
    await late.tick();
    // Taken and announced in one tick, not at the next heartbeat.
    expect(((await t.db.scope.get(workerDocId(late.id))) as unknown as WorkerDoc).leases).toEqual(['account:t']);
    // Its next tick is late (a loaded machine): the lease ran out, the other takes it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    other = ClusterMember.create({ db: t.db, logger: silentLogger, roles: ['fetch'], claims, timing });
    await other.tick();
    expect(await withConflicts(leaseDocId('account:t'))).toMatchObject({ owner: other.id });
    // The late worker's announcement still names the lease; status, which counts a worker
    // as live for longer than these timings, shows it under its one owner.
    expect(((await t.db.scope.get(workerDocId(late.id))) as unknown as WorkerDoc).leases).toEqual(['account:t']);
    const holders = async () => ((await clusterStatus(t.db))?.workers ?? []).filter((w) => w.leases.includes('account:t')).map((w) => w.id);
    expect(await holders()).toEqual([other.id]);
    await late.tick();
    expect(late.holds('account:t')).toBe(false);
    expect(((await t.db.scope.get(workerDocId(late.id))) as unknown as WorkerDoc).leases).toEqual([]);
    expect(await holders()).toEqual([other.id]);
    await late.leave();
  });
});
