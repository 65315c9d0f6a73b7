/**
 * The queue passes over the echoes of its own settled writes on the changes feed
 * (src/queue/own-writes.ts) without reading them, and that changes no data: real mail
 * through every built-in mail extension, in feed batches small enough that most echoes
 * arrive in later batches, ends in the same documents as a queue that reads every echo
 * (what a restarted queue does). A document someone else rewrote after the queue's own
 * write is read as usual.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { bulkWrite } from '../../src/couch/bulk-write.js';
import { type ChangeRow, followChanges } from '../../src/couch/changes-follower.js';
import type { Db } from '../../src/couch/connect.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { readFeedRows } from '../../src/queue/feed-rows.js';
import { OwnWrites } from '../../src/queue/own-writes.js';
import { processBatch } from '../../src/queue/process-batch.js';
import { isBookkeeping } from '../../src/queue/provenance.js';
import { QueueRunner } from '../../src/queue/queue-runner.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { prepareQueueDb, writeRaw } from '../helpers/queue.js';
import { useTestDatabase } from '../helpers/test-database.js';
import { differingIds, userData } from '../helpers/user-data.js';

const passing = useTestDatabase('ownwrites');
const reading = useTestDatabase('allechoes');
const rewrite = useTestDatabase('rewritten');
const registries: SchemaRegistry[] = [];
const dirs: string[] = [];
let corpus: Corpus;

beforeAll(async () => {
  corpus = await openCorpus(inject('corpusDir'));
}, 60_000);
afterAll(async () => {
  for (const r of registries) await r.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  await corpus?.remove();
});

async function mailDatabase(db: Db, messages: readonly Buffer[]): Promise<SchemaRegistry> {
  await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(db, builtInSchemaDir());
  const registry = await SchemaRegistry.load(db);
  registries.push(registry);
  const extDir = await mkdtemp(join(tmpdir(), 'raindrop-ownwrites-ext-'));
  dirs.push(extDir);
  for (const file of ['email.js', 'body.js', 'quoted.js', 'links.js', 'attachments.js', 'thread.js', 'conversation.js', 'identities.js', 'mailing-list.js', 'grouping.js']) {
    await cp(join(projectRoot, 'extensions', file), join(extDir, file));
  }
  expect((await installExtensions(registry, db, [extDir], silentLogger)).refused).toEqual([]);
  const stored = await storeRawMessages(registry, db, messages.map((bytes) => ({ bytes, receivedFrom: 'import:test' })));
  expect(stored.filter((r) => r.outcome === 'refused')).toEqual([]);
  return registry;
}

async function runCounting(db: Db, registry: SchemaRegistry, ownWritesRemembered?: number) {
  let passedOver = 0;
  let changes = 0;
  const runner = await QueueRunner.start({
    db,
    registry,
    logger: silentLogger,
    poolSize: 2,
    batchSize: 40,
    ...(ownWritesRemembered === undefined ? {} : { ownWritesRemembered }),
    onBatch: (info) => {
      passedOver += info.passedOver;
      changes += info.changes;
    },
  });
  try {
    return { ...(await runner.runUntilIdle()), passedOver, changes };
  } finally {
    await runner.close();
  }
}

describe('echoes of the queue own writes', () => {
  it('are passed over unread, and the data equals that of a queue that reads every echo', async () => {
    const files = (await messageFiles(await corpus.unpack('openwrt-devel'))).slice(0, 80);
    const messages = await Promise.all(files.map((f) => readFile(f)));
    const passed = await runCounting(passing.db, await mailDatabase(passing.db, messages));
    const read = await runCounting(reading.db, await mailDatabase(reading.db, messages), 0);
    console.info(`passing over: ${passed.changes} rows, ${passed.passedOver} passed over, ${passed.skipped} skipped; reading all: ${read.changes} rows, ${read.skipped} skipped`);
    expect(read.passedOver).toBe(0);
    expect(passed.failed).toBe(0);
    // Most of a cascade's rows are its own outputs coming back (~10 per message).
    expect(passed.passedOver).toBeGreaterThan(messages.length * 5);
    // What the reading queue found done by provenance, the passing one never looked at.
    expect(passed.skipped).toBeLessThan(read.skipped / 10);
    const [expected, got] = [await userData(reading.db), await userData(passing.db)];
    expect(Object.keys(expected).length).toBeGreaterThan(messages.length * 8);
    expect(differingIds(expected, got)).toEqual([]);
  }, 600_000);

  it('are read when someone else wrote the document since the queue did', async () => {
    const { registry, extDir } = await prepareQueueDb(rewrite.db, ['parse.js', 'words.js', 'stats.js']);
    registries.push(registry);
    dirs.push(extDir);
    await writeRaw(registry, rewrite.db, 'm1', 'Hello world\nThe quarterly spreadsheet arrived yesterday.');
    const raw = await getDoc(rewrite.db, docIdFor(['email', 'm1'], 'rd.test.raw'));
    const since = ((await rewrite.db.scope.info()) as { update_seq: string | number }).update_seq;
    const runner = await QueueRunner.start({ db: rewrite.db, registry, logger: silentLogger, poolSize: 1 });
    const ownWrites = new OwnWrites();
    try {
      const stats = await processBatch(runner.context, { docs: [raw!], deleted: [] }, { ownWrites });
      expect(stats.failed).toBe(0);
    } finally {
      await runner.close();
    }
    // Another writer changes one output after the queue wrote it, before its echo is read.
    const parsedId = docIdFor(['email', 'm1'], 'rd.test.parsed');
    const parsed = await getDoc(rewrite.db, parsedId);
    expect((await bulkWrite(rewrite.db, [{ ...parsed!, subject: 'Edited elsewhere' }]))[0]?.ok).toBe(true);
    const rows: ChangeRow[] = [];
    const follower = followChanges(rewrite.db, { since, until: 'head', onBatch: (batch) => void rows.push(...batch.rows) });
    await follower.done;
    const data = rows.filter((r) => !isBookkeeping(r.id));
    expect(data.length).toBeGreaterThan(3);
    const input = await readFeedRows(rewrite.db, rows, ownWrites);
    expect(input.docs.map((d) => d._id)).toEqual([parsedId]);
    expect(input.docs[0]).toMatchObject({ subject: 'Edited elsewhere' });
    expect(input.passedOver).toBe(data.length - 1);
    // Met once: the same rows read again (a second lane, a replay) are read as usual.
    expect((await readFeedRows(rewrite.db, rows, ownWrites)).passedOver).toBe(0);
  });
});
