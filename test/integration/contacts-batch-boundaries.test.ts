/**
 * Identities and contacts do not depend on where batches end (issues 15 and 17): the
 * same real messages, imported in three orders and processed with feed batches of 200, 7
 * and 3 changes, end in equal data, every rd.identity and rd.contact included. And an
 * identity that moves (first seen nameless, then named) leaves its old contact, which is
 * retracted when it has no member left.
 */
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger, type RdKey } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { Db } from '../../src/couch/connect.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { messageFiles, openCorpus, spamAssassinDir, type Corpus } from '../helpers/corpus.js';
import { runQueueOnce } from '../helpers/queue.js';
import { useTestDatabase } from '../helpers/test-database.js';
import { differingIds, userData } from '../helpers/user-data.js';

const runs = [
  { name: 'batches of 200, archive order', batchSize: 200, db: useTestDatabase('contacts200') },
  { name: 'batches of 7, reversed', batchSize: 7, db: useTestDatabase('contacts7') },
  { name: 'batches of 3, shuffled', batchSize: 3, db: useTestDatabase('contacts3') },
];
const moves = useTestDatabase('contactmove');
const registries: SchemaRegistry[] = [];
let corpus: Corpus;
let extDir = '';

/** A fixed shuffle (a linear congruential generator): the same order in every run. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let seed = 12345;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

async function prepare(db: Db): Promise<SchemaRegistry> {
  await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(db, builtInSchemaDir());
  const registry = await SchemaRegistry.load(db);
  registries.push(registry);
  expect((await installExtensions(registry, db, [extDir], silentLogger)).refused).toEqual([]);
  return registry;
}

beforeAll(async () => {
  corpus = await openCorpus(inject('corpusDir'));
  extDir = await mkdtemp(join(tmpdir(), 'raindrop-contacts-ext-'));
  for (const file of ['email.js', 'thread.js', 'conversation.js', 'identities.js', 'mailing-list.js', 'grouping.js']) await cp(join(projectRoot, 'extensions', file), join(extDir, file));
}, 60_000);

afterAll(async () => {
  for (const r of registries) await r.close();
  await corpus?.remove();
});

describe('identities and contacts whatever the batch boundaries', () => {
  it('three orders and three batch sizes end in equal data, identities and contacts included', async () => {
    // Real list mail, where most addresses are named in some messages and not in others
    // (a To: without a display name, a From: rewritten "X via openwrt-devel"), plus ham.
    const openwrt = (await messageFiles(await corpus.unpack('openwrt-devel'))).slice(0, 100);
    const ham = (await messageFiles(spamAssassinDir)).filter((f) => f.includes('easy-ham-1')).slice(0, 20);
    const bytes = await Promise.all([...openwrt, ...ham].map((f) => readFile(f)));
    const orders = [bytes, [...bytes].reverse(), shuffled(bytes)];
    const snapshots: Array<Awaited<ReturnType<typeof userData>>> = [];
    for (const [i, run] of runs.entries()) {
      const registry = await prepare(run.db.db);
      const stored = await storeRawMessages(registry, run.db.db, (orders[i] as Buffer[]).map((b) => ({ bytes: b, receivedFrom: 'import:test' })));
      expect(stored.filter((r) => r.outcome === 'refused')).toEqual([]);
      await runQueueOnce(run.db.db, registry, 2, run.batchSize);
      snapshots.push(await userData(run.db.db));
    }
    const [reference, ...others] = snapshots as [Record<string, Record<string, unknown>>, ...Array<Record<string, Record<string, unknown>>>];
    for (const [i, got] of others.entries()) {
      const differing = differingIds(reference, got);
      for (const k of differing.slice(0, 3)) console.info(runs[i + 1]?.name, 'DIFF', k, JSON.stringify(reference[k])?.slice(0, 500), '\n   GOT', JSON.stringify(got[k])?.slice(0, 500));
      expect(differing, `${runs[i + 1]?.name} against ${runs[0]?.name}`).toEqual([]);
    }
    const ofSchema = (s: string) => Object.values(reference).filter((d) => d.rd_schema_id === s);
    // The comparison has something to compare: identities, contacts that join several
    // identities, and identities named in some messages and not in others.
    console.info(`${ofSchema('rd.identity').length} identities, ${ofSchema('rd.contact').length} contacts, ${Object.keys(reference).length} documents equal in the three runs`);
    expect(ofSchema('rd.identity').length).toBeGreaterThan(40);
    expect(ofSchema('rd.contact').length).toBeGreaterThan(30);
    expect(ofSchema('rd.contact').some((c) => (c.identities as unknown[]).length > 1)).toBe(true);
    expect(ofSchema('rd.identity').some((d) => d.name !== null && (d.names as Array<{ count: number }>).reduce((n, e) => n + e.count, 0) < (d.message_count as number))).toBe(true);
    // Every identity is in the contact it names, and every contact lists exactly its
    // identities, with its figures summed over them.
    const identities = ofSchema('rd.identity');
    for (const contact of ofSchema('rd.contact')) {
      const id = (contact.rd_key as RdKey)[1];
      const members = identities.filter((d) => d.contact_id === id);
      expect(contact.identities).toEqual(members.map((d) => ['email', d.address]).sort((a, b) => (String(a[1]) < String(b[1]) ? -1 : 1)));
      expect(contact.message_count).toBe(members.reduce((n, d) => n + (d.message_count as number), 0));
    }
    for (const d of identities) expect(reference[docIdFor(['contact', d.contact_id as string], 'rd.contact')], String(d.address)).toBeDefined();
    // Small batches cost a round of writes each: with batches of one change the three
    // runs took over 10 minutes on CouchDB 3.5 on a loaded 2-core machine; batches of
    // three still cut most identities' messages apart.
  }, 1_500_000);
});

describe('an identity that moves', () => {
  const message = (id: string, from: string) =>
    Buffer.from(`Message-ID: <${id}>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nFrom: ${from}\r\nTo: list@example.org\r\nSubject: ${id}\r\n\r\nHello.\r\n`);
  const doc = (key: RdKey, schema: string) => getDoc(moves.db, docIdFor(key, schema));

  it('first seen nameless, then named: ends in the named contact, and the old contact is gone', async () => {
    const registry = await prepare(moves.db);
    const store = async (id: string, from: string) => {
      expect((await storeRawMessages(registry, moves.db, [{ bytes: message(id, from), receivedFrom: 'import:test' }])).map((r) => r.outcome)).not.toContain('refused');
      await runQueueOnce(moves.db, registry, 1);
    };
    await store('m1@example.org', 'jane@example.org');
    expect(await doc(['identity', ['email', 'jane@example.org']], 'rd.identity')).toMatchObject({ name: null, contact_id: 'jane@example.org' });
    expect(await doc(['contact', 'jane@example.org'], 'rd.contact')).toMatchObject({ name: null, identities: [['email', 'jane@example.org']], message_count: 1 });

    // Another address already in "jane doe", then Jane's address named: it moves there.
    await store('m2@example.org', 'Jane Doe <jane@work.example>');
    await store('m3@example.org', 'Jane Doe <jane@example.org>');
    expect(await doc(['identity', ['email', 'jane@example.org']], 'rd.identity')).toMatchObject({ name: 'Jane Doe', names: [{ name: 'Jane Doe', count: 1 }], names_dropped: 0, message_count: 2, contact_id: 'jane doe' });
    expect(await doc(['contact', 'jane@example.org'], 'rd.contact')).toBeUndefined();
    expect(await doc(['contact', 'jane doe'], 'rd.contact')).toMatchObject({
      name: 'Jane Doe', identities: [['email', 'jane@example.org'], ['email', 'jane@work.example']], message_count: 3, from_count: 3,
    });
    // The list address was never named: its own contact, untouched by the move.
    expect(await doc(['contact', 'list@example.org'], 'rd.contact')).toMatchObject({ identities: [['email', 'list@example.org']], message_count: 3 });
  }, 120_000);
});
