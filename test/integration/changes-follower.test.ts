import { afterEach, describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { bulkWrite } from '../../src/couch/bulk-write.js';
import { connectCouch, useDatabase } from '../../src/couch/connect.js';
import { type ChangesFollower, type Seq, followChanges } from '../../src/couch/changes-follower.js';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('changes');
const open: Array<ChangesFollower | TcpProxy> = [];
afterEach(async () => {
  for (const thing of open.splice(0)) await ('close' in thing ? thing.close() : thing.stop());
});

const docs = (from: number, count: number, tag: string) =>
  Array.from({ length: count }, (_, i) => ({ _id: docIdFor(['n', `${tag}-${from + i}`], 'rd.test.feed'), tag, n: from + i }));

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('changes follower', () => {
  it('reads to the head in batches and resumes from an opaque checkpoint', async () => {
    await bulkWrite(t.db, docs(0, 25, 'head'));
    const seen: string[] = [];
    let batches = 0;
    const first = followChanges(t.db, { until: 'head', batchSize: 10, includeDocs: true, onBatch: (b) => {
      batches++;
      for (const row of b.rows) if (row.doc?.tag === 'head') seen.push(row.id);
    } });
    const { lastSeq } = await first.done;
    expect(seen).toHaveLength(25);
    expect(batches).toBeGreaterThanOrEqual(3);
    expect(lastSeq).toBeDefined();

    await bulkWrite(t.db, docs(25, 5, 'head'));
    const later: string[] = [];
    const second = followChanges(t.db, { until: 'head', since: lastSeq as Seq, onBatch: (b) => { later.push(...b.rows.map((r) => r.id)); } });
    await second.done;
    expect(later.sort()).toEqual(docs(25, 5, 'head').map((d) => d._id).sort());
  });

  it('survives the server going away mid-feed and delivers every change exactly once', async () => {
    const proxy = await startTcpProxy(t.url);
    open.push(proxy);
    const viaProxy = useDatabase(connectCouch(proxy.url, { username: t.username, password: t.password }), t.db.name);
    const received = new Map<string, number>();
    const follower = followChanges(viaProxy, {
      until: 'forever',
      since: 'now',
      batchSize: 7,
      includeDocs: true,
      reconnectInitialMs: 20,
      reconnectMaxMs: 200,
      onBatch: (b) => {
        for (const row of b.rows) if (row.doc?.tag === 'gap') received.set(row.id, (received.get(row.id) ?? 0) + 1);
      },
    });
    open.push(follower);
    // Let the follower establish "now" before writing.
    await new Promise((r) => setTimeout(r, 300));
    await bulkWrite(t.db, docs(0, 20, 'gap'));
    await waitFor(() => received.size === 20, 'the first 20 changes');

    await proxy.stop();
    await bulkWrite(t.db, docs(20, 30, 'gap')); // written while the follower cannot see the server
    await new Promise((r) => setTimeout(r, 300));
    await proxy.start();
    await waitFor(() => received.size === 50, `the changes written during the outage (got ${received.size}, reconnects ${follower.reconnects})`);

    expect([...received.values()].every((n) => n === 1)).toBe(true);
    expect(follower.reconnects).toBeGreaterThan(0);
    await follower.stop();
    expect(await follower.done).toHaveProperty('lastSeq');
  });

  it('stops with an error it cannot fix by retrying (database deleted)', async () => {
    const missing = useDatabase(t.couch, `${t.db.name}_missing`);
    const follower = followChanges(missing, { until: 'forever', onBatch: () => undefined });
    await expect(follower.done).rejects.toMatchObject({ code: 'COUCH_HTTP', status: 404 });
  });

  it('stops promptly while waiting on a quiet feed', async () => {
    const follower = followChanges(t.db, { until: 'forever', since: 'now', onBatch: () => undefined });
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await follower.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops at once while the server, its answer begun, sends nothing more (a busy server)', async () => {
    const proxy = await startTcpProxy(t.url);
    open.push(proxy);
    const viaProxy = useDatabase(connectCouch(proxy.url, { username: t.username, password: t.password }), t.db.name);
    const follower = followChanges(viaProxy, { until: 'forever', since: 'now', onBatch: () => undefined });
    // The longpoll's headers arrive at once; then the server goes silent. Before the fix,
    // stop() waited for the server's next byte (no heartbeat comes from a blocked server).
    await new Promise((r) => setTimeout(r, 500));
    proxy.freeze();
    const started = Date.now();
    await follower.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
