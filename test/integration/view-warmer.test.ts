/**
 * `raindrop serve`'s view warmer: once poked (the queue wrote something) and quiet for a
 * moment, it brings the web app's view indexes up to date, so a query that does not
 * update the index (`stale=ok`, what a page load would otherwise wait to avoid) already
 * sees the new documents. Pokes during a round cause one more round, not one each. No
 * round starts while the queue says it is busy (it starts busy: serve's queue is catching
 * up), since on the embedded server a build holds up the queue's writes and a stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDatabase } from '../../src/cli/install.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { startViewWarmer, type ViewWarmer } from '../../src/web/view-warmer.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('warmer');
let warmer: ViewWarmer | undefined;

const link = (n: number) => ({
  _id: docIdFor(['link', ['warm@example.org', `https://example.org/${n}`]], 'rd.attach.link'),
  rd_key: ['link', ['warm@example.org', `https://example.org/${n}`]], rd_schema_id: 'rd.attach.link',
  message: ['email', 'warm@example.org'], url: `https://example.org/${n}`, text: `example.org/${n}`, host: 'example.org', position: n,
});
const indexed = async () => ((await t.db.scope.view('rd_browse', 'links_by_message', { key: 'warm@example.org', stale: 'ok' })) as { rows: unknown[] }).rows.length;

beforeAll(async () => {
  await installDatabase(t.couch, t.db.name, [], silentLogger);
  // The index exists (built empty), as after a first page load.
  await t.db.scope.view('rd_browse', 'links_by_message', { limit: 0 });
}, 60_000);

afterAll(async () => {
  await warmer?.close();
});

describe('the view warmer', () => {
  it('brings the app\'s indexes up to date after the queue\'s writes', async () => {
    await t.db.scope.insert(link(0));
    // (CouchDB 3 may build it in the background, its "ken" indexer; the embedded server never does.)
    if (t.embedded) expect(await indexed(), 'stale=ok does not update the index by itself').toBe(0);
    warmer = startViewWarmer(t.db, silentLogger, { quietMs: 50 });
    warmer.poke();
    // The queue has not said it is at the head of the feed yet: nothing is built.
    await new Promise((r) => setTimeout(r, 300));
    expect(warmer.rounds).toBe(0);
    warmer.busy(false);
    await expect.poll(() => warmer?.rounds, { timeout: 30_000 }).toBe(1);
    expect(await indexed()).toBe(1);
    // Work arriving in bursts: several pokes, then quiet: one more round.
    await t.db.scope.insert(link(1));
    for (let i = 0; i < 5; i++) warmer.poke();
    await expect.poll(() => warmer?.rounds, { timeout: 30_000 }).toBe(2);
    expect(await indexed()).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(warmer.rounds).toBe(2);
    // Busy again (a batch that was not the last): writes are noted, built only at the head.
    warmer.busy(true);
    await t.db.scope.insert(link(2));
    warmer.poke();
    await new Promise((r) => setTimeout(r, 300));
    expect(warmer.rounds).toBe(2);
    // CouchDB 3 also builds indexes in the background (its "ken" indexer), so only the
    // embedded server shows that nothing asked for a build meanwhile.
    if (t.embedded) expect(await indexed()).toBe(2);
    warmer.busy(false);
    await expect.poll(() => warmer?.rounds, { timeout: 30_000 }).toBe(3);
    expect(await indexed()).toBe(3);
  });
});
