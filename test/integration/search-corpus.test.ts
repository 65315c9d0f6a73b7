/**
 * Search on real mail: the whole cake archive and a slice of openwrt-devel, through the
 * real queue and the real index; every query's results are compared, as sets of
 * Message-IDs, with what test/helpers/search-reference.ts reads from the raw messages.
 */
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installDatabase } from '../../src/cli/install.js';
import { isRaindropError, silentLogger } from '../../src/core/index.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import { SearchIndex } from '../../src/search/index-store.js';
import { catchUp } from '../../src/search/indexer.js';
import { runSearch } from '../../src/search/run-query.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { runQueueOnce } from '../helpers/queue.js';
import { decodeMessage, hasPhrase, hasPrefix, hasWord, type DecodedMessage } from '../helpers/search-reference.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('search');
let corpus: Corpus;
let registry: SchemaRegistry;
let index: SearchIndex;
let indexDir: string;
const decoded = new Map<string, DecodedMessage>();
const marked = { seen: new Set<string>(), flagged: new Set<string>(), archived: new Set<string>(), deleted: new Set<string>() };

/** Messages of each archive: enough for every kind of query, quick enough for CI (the
 * queue's cascade, not the index, is what takes the time). */
const slice = 250;

beforeAll(async () => {
  await installDatabase(t.couch, t.db.name, [], silentLogger);
  registry = await SchemaRegistry.load(t.db);
  corpus = await openCorpus(inject('corpusDir'));
  const openwrt = await messageFiles(await corpus.unpack('openwrt-devel'));
  // 000340 and 000342 are replies whose subject starts with 回复 ("reply", Chinese; sent as gb18030).
  const chinese = openwrt.filter((f) => /\/00034[02]\.eml$/.test(f));
  expect(chinese).toHaveLength(2);
  const files = [...(await messageFiles(await corpus.unpack('cake'))).slice(0, slice), ...openwrt.slice(0, slice), ...chinese];
  const started = Date.now();
  for (let i = 0; i < files.length; i += 200) {
    const chunk = files.slice(i, i + 200);
    const stored = await storeRawMessages(registry, t.db, await Promise.all(chunk.map(async (f) => ({ bytes: await readFile(f), receivedFrom: 'import:test' }))));
    expect(stored.filter((r) => r.outcome === 'refused')).toEqual([]);
  }
  for (const f of files) {
    const m = await decodeMessage(f);
    // A Message-ID seen twice is one item in Raindrop; the first copy is the one stored.
    if (m && !decoded.has(m.messageId)) decoded.set(m.messageId, m);
  }
  // User state on a spread of messages, as the web app writes it.
  const ids = [...decoded.keys()];
  const user = { writer: 'user', category: 'provider' as const, confidence: 2, source: null };
  for (const [i, id] of ids.entries()) {
    const write = (schemaId: string, fields: Record<string, boolean>) => writeValidatedItem(registry, t.db, { key: ['email', id], schemaId, fields, ...user });
    if (i % 3 === 0) { await write('rd.msg.seen', { seen: true }); marked.seen.add(id); }
    if (i % 41 === 0) { await write('rd.msg.flagged', { flagged: true }); marked.flagged.add(id); }
    if (i % 7 === 0) { await write('rd.msg.archived', { archived: true }); marked.archived.add(id); }
    if (i % 97 === 5) { await write('rd.msg.deleted', { deleted: true }); marked.deleted.add(id); }
  }
  console.log(`search-corpus: stored and marked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await runQueueOnce(t.db, registry, 2);
  console.log(`search-corpus: ${files.length} files stored and processed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  indexDir = await mkdtemp(join(tmpdir(), 'raindrop-search-'));
  index = SearchIndex.open(join(indexDir, 'index.sqlite'));
  const t0 = Date.now();
  await catchUp({ db: t.db, index });
  console.log(`search-corpus: ${index.count()} messages indexed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}, 600_000);

afterAll(async () => {
  index?.close();
  await registry?.close();
  await corpus?.remove();
  if (indexDir) await rm(indexDir, { recursive: true, force: true });
});

/** What a bare word searches: everything but the mailing list. */
const all = (m: DecodedMessage) => [m.subject, m.from, m.to, m.cc, m.text, m.filenames.join(' ')].join('\n');
const day = (s: string) => Date.parse(`${s}T00:00:00Z`) / 1000;
const alive = (m: DecodedMessage) => !marked.deleted.has(m.messageId);

/** Every query with what it means, stated over the decoded messages. */
const cases: Array<[query: string, meaning: (m: DecodedMessage) => boolean]> = [
  ['bufferbloat', (m) => alive(m) && hasWord(all(m), 'bufferbloat')],
  ['fq_codel', (m) => alive(m) && hasPhrase(all(m), 'fq codel')],
  ['latency throughput', (m) => alive(m) && hasWord(all(m), 'latency') && hasWord(all(m), 'throughput')],
  ['"ingress shaping"', (m) => alive(m) && hasPhrase(all(m), 'ingress shaping')],
  ['"signed-off-by"', (m) => alive(m) && hasPhrase(all(m), 'signed off by')],
  ['diffserv*', (m) => alive(m) && hasPrefix(all(m), 'diffserv')],
  ['mt76 OR ath10k', (m) => alive(m) && (hasWord(all(m), 'mt76') || hasWord(all(m), 'ath10k'))],
  ['cake -codel', (m) => alive(m) && hasWord(all(m), 'cake') && !hasWord(all(m), 'codel')],
  ['ubus NOT procd', (m) => alive(m) && hasWord(all(m), 'ubus') && !hasWord(all(m), 'procd')],
  ['(wifi OR wireless) driver', (m) => alive(m) && (hasWord(all(m), 'wifi') || hasWord(all(m), 'wireless')) && hasWord(all(m), 'driver')],
  ['from:dave', (m) => alive(m) && hasWord(m.from, 'dave')],
  ['from:toke', (m) => alive(m) && hasWord(m.from, 'toke')],
  ['from:"Jonathan Morton"', (m) => alive(m) && hasPhrase(m.from, 'Jonathan Morton')],
  ['to:openwrt-devel', (m) => alive(m) && hasPhrase(m.to, 'openwrt devel')],
  ['cc:nbd', (m) => alive(m) && hasWord(m.cc, 'nbd')],
  ['subject:patch', (m) => alive(m) && hasWord(m.subject, 'patch')],
  ['subject:"cake" from:moeller0', (m) => alive(m) && hasWord(m.subject, 'cake') && hasWord(m.from, 'moeller0')],
  ['subject:ramips*', (m) => alive(m) && hasPrefix(m.subject, 'ramips')],
  ['list:cake', (m) => alive(m) && hasWord(m.listId, 'cake')],
  ['list:openwrt-devel.lists.openwrt.org', (m) => alive(m) && m.listId === 'openwrt-devel.lists.openwrt.org'],
  ['has:attachment', (m) => alive(m) && m.filenames.length > 0],
  ['has:attachment list:cake', (m) => alive(m) && m.filenames.length > 0 && hasWord(m.listId, 'cake')],
  ['filename:patch', (m) => alive(m) && m.filenames.some((f) => hasWord(f, 'patch'))],
  ['filename:png', (m) => alive(m) && m.filenames.some((f) => hasWord(f, 'png'))],
  ['is:unread list:cake', (m) => alive(m) && !marked.seen.has(m.messageId) && hasWord(m.listId, 'cake')],
  ['is:read', (m) => alive(m) && marked.seen.has(m.messageId)],
  ['is:flagged', (m) => alive(m) && marked.flagged.has(m.messageId)],
  ['is:archived codel', (m) => alive(m) && marked.archived.has(m.messageId) && hasWord(all(m), 'codel')],
  ['-is:archived is:flagged', (m) => alive(m) && !marked.archived.has(m.messageId) && marked.flagged.has(m.messageId)],
  ['is:deleted', (m) => marked.deleted.has(m.messageId)],
  ['after:2019-05-01 before:2019-05-08', (m) => alive(m) && m.date !== null && m.date >= day('2019-05-01') && m.date < day('2019-05-08')],
  ['before:2019-05-01', (m) => alive(m) && m.date !== null && m.date < day('2019-05-01')],
  ['after:2019-10-01 codel', (m) => alive(m) && m.date !== null && m.date >= day('2019-10-01') && hasWord(all(m), 'codel')],
  ['-before:2020-01-01 is:unread', (m) => alive(m) && (m.date === null || m.date >= day('2020-01-01')) && !marked.seen.has(m.messageId)],
  ['in:list:cake.lists.bufferbloat.net', (m) => alive(m) && m.listId === 'cake.lists.bufferbloat.net'],
  // GitHub's notifications relayed by the list belong to the notifications.github grouping
  // (rd.ext.grouping: the service before the list), so they are not in the list's.
  ['in:openwrt-devel.lists.openwrt.org is:unread', (m) => alive(m) && m.listId === 'openwrt-devel.lists.openwrt.org' && !(m.headerNames.includes('x-github-reason') || m.headerNames.includes('x-github-sender') || /@github\.com\b/i.test(m.from)) && !marked.seen.has(m.messageId)],
  ['回复', (m) => alive(m) && all(m).includes('回复')],
  ['subject:回复 patch', (m) => alive(m) && m.subject.includes('回复') && hasWord(all(m), 'patch')],
  ['in:inbox sqm', (m) => alive(m) && !marked.archived.has(m.messageId) && hasWord(all(m), 'sqm')],
];

describe('search on real mail (cake, openwrt-devel)', () => {
  it.each(cases)('%s', (query, meaning) => {
    const expected = [...decoded.values()].filter(meaning).map((m) => m.messageId).sort();
    console.log(`${query}: ${expected.length} expected`);
    const got = runSearch(index, query, { messages: true, limit: 200 });
    const found = new Set<string>();
    for (let offset = 0; offset < got.total; offset += 200) for (const hit of runSearch(index, query, { messages: true, limit: 200, offset }).results) found.add(hit.message_id);
    expect(expected.length, `the reference finds nothing for ${query}; pick another word`).toBeGreaterThan(0);
    expect([...found].sort()).toEqual(expected);
  });
});
