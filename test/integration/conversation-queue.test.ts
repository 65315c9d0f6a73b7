/**
 * Threading (rd.ext.thread + rd.ext.conversation) under the real queue on real mail:
 * notmuch's threading corpus (nasty set) against the thread sizes notmuch's own test
 * suite expects, bogus references, loops, duplicate Message-IDs, arrival-order
 * independence (same conversations whatever the import order, and in increments), the
 * cake archive's 108-message thread arriving backwards, the subject fallback in either
 * arrival order (openwrt-devel), and rd.msg.seen in the summary.
 */
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { runQueueOnce } from '../helpers/queue.js';
import { useTestDatabase, type TestDatabase } from '../helpers/test-database.js';

const a = useTestDatabase('conv_a');
const b = useTestDatabase('conv_b');
const registries = new Map<TestDatabase, SchemaRegistry>();
let corpus: Corpus;
let notmuch: string;

beforeAll(async () => {
  corpus = await openCorpus(inject('corpusDir'));
  // Threading needs only these; the other built-ins would multiply the run time.
  const only = join(corpus.dir, 'threading-extensions');
  await mkdir(only, { recursive: true });
  for (const file of ['email.js', 'thread.js', 'conversation.js']) await cp(join(projectRoot, 'extensions', file), join(only, file));
  for (const t of [a, b]) {
    await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
    await installSchemas(t.db, builtInSchemaDir());
    const registry = await SchemaRegistry.load(t.db);
    const report = await installExtensions(registry, t.db, [only], silentLogger);
    expect(report.refused).toEqual([]);
    registries.set(t, registry);
  }
  notmuch = join(await corpus.unpack('nasty'), 'nasty', 'notmuch');
}, 120_000);
afterAll(async () => {
  for (const r of registries.values()) await r.close();
  await corpus?.remove();
});

async function load(t: TestDatabase, files: readonly string[]) {
  const messages = await Promise.all(files.map(async (f) => ({ bytes: await readFile(f), receivedFrom: 'import:test' })));
  await storeRawMessages(registries.get(t)!, t.db, messages);
}
const processAll = (t: TestDatabase) => runQueueOnce(t.db, registries.get(t)!, 2);

async function docsOf(t: TestDatabase, schema: string): Promise<CouchDoc[]> {
  const res = (await t.db.scope.view('rd_core', 'by_schema', { key: schema, reduce: false, include_docs: true })) as unknown as { rows: Array<{ doc: CouchDoc }> };
  return res.rows.map((r) => r.doc);
}
/** Message-ID -> conversation id. */
async function conversations(t: TestDatabase): Promise<Map<string, string>> {
  return new Map((await docsOf(t, 'rd.msg.conversation')).map((d) => [String((d.rd_key as [string, string])[1]), String((d.conversation_id as [string, string])[1])]));
}
const groups = (conv: Map<string, string>, ids: Iterable<string>) => {
  const out = new Map<string, string[]>();
  for (const id of ids) {
    const c = conv.get(id);
    if (c === undefined) throw new Error(`no conversation for ${id}`);
    out.set(c, [...(out.get(c) ?? []), id]);
  }
  return [...out.values()];
};

/** Headers read here, independently of the extensions: unfolded, ids without <>. */
async function headerIds(file: string) {
  const text = (await readFile(file, 'latin1')).split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const header = (name: string) => new RegExp(`^${name}:(.*)$`, 'im').exec(text)?.[1] ?? '';
  const ids = (v: string) => [...v.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!).filter((id) => id.includes('@'));
  return { id: ids(header('message-id'))[0], refs: [...ids(header('references')), ...ids(header('in-reply-to'))] };
}

/** Connected components by references (union-find), the expectation for the list archives. */
async function components(files: readonly string[]) {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const union = (x: string, y: string) => {
    const rx = find(x);
    const ry = find(y);
    if (rx !== ry) parent.set(rx, ry);
  };
  const byFile = new Map<string, string>();
  for (const f of files) {
    const h = await headerIds(f);
    if (!h.id) continue;
    byFile.set(f, h.id);
    find(h.id);
    for (const r of h.refs) union(h.id, r);
  }
  const comps = new Map<string, string[]>();
  for (const [f, id] of byFile) comps.set(find(id), [...(comps.get(find(id)) ?? []), f]);
  return { byFile, comps: [...comps.values()] };
}

describe('threading through the queue', () => {
  it("threads notmuch's corpus as notmuch's own tests expect (default corpus, ghost roots, loops, <yes>)", async () => {
    const files = (await messageFiles(notmuch)).filter((f) => /\/(default|threading|lkml|duplicate)\/|\/broken\/loop/.test(f));
    await load(a, files);
    await processAll(a);
    const conv = await conversations(a);
    const idsIn = async (re: RegExp) => [...new Set(await Promise.all(files.filter((f) => re.test(f)).map(async (f) => (await headerIds(f)).id!)))];

    // notmuch's T100 "Search for all messages": 24 threads over the 52 messages of the default corpus.
    const sizes = groups(conv, await idsIn(/\/default\//)).map((g) => g.length).sort((x, y) => y - x);
    expect(sizes).toEqual([7, 5, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);

    // ghost roots: a fake root naming a nonexistent parent still joins the real root's thread.
    const ghost = groups(conv, await idsIn(/ghost-root__(?:child|fake-root|grand|great|real-root)/));
    expect(ghost).toHaveLength(1);
    expect(ghost[0]).toHaveLength(6);
    expect(groups(conv, await idsIn(/ghost-root__15/))).toHaveLength(1);
    expect(groups(conv, await idsIn(/parent-priority/))).toHaveLength(1);
    // A reference loop: two messages, one conversation, a summary in date order.
    const loop = groups(conv, ['mid-loop-12@example.org', 'mid-loop-21@example.org']);
    expect(loop).toHaveLength(1);
    const summary = await getDoc(a.db, docIdFor(['conv', conv.get('mid-loop-12@example.org')!], 'rd.conv.summary'));
    expect(summary).toMatchObject({ message_ids: ['mid-loop-12@example.org', 'mid-loop-21@example.org'], message_count: 2, unread_count: 2, missing_ids: [] });

    // In-Reply-To: <yes> links nothing: those messages are not one conversation.
    const yes = files.filter((f) => /\/lkml\//.test(f));
    const withYes: string[] = [];
    for (const f of yes) if (/^in-reply-to:\s*<yes>/im.test(await readFile(f, 'latin1'))) withYes.push((await headerIds(f)).id!);
    expect(withYes.length).toBeGreaterThan(5);
    expect(groups(conv, withYes).length).toBeGreaterThan(1);
    expect(conv.has('yes')).toBe(false);

    // Every conversation has exactly one summary, written by its smallest member.
    const summaries = await docsOf(a, 'rd.conv.summary');
    expect(new Set(summaries.map((s) => (s.rd_key as [string, string])[1]))).toEqual(new Set(conv.values()));
    for (const s of summaries) expect(s.message_ids as string[]).toContain((s.rd_key as [string, string])[1]);
    console.log(`notmuch: ${conv.size} messages, ${summaries.length} conversations; default corpus sizes ${sizes.join(',')}`);
  }, 120_000);

  it('gives the same conversations whatever the arrival order (reversed, in increments)', async () => {
    // The same files as above without lkml (its threads are disjoint from these), backwards, in two increments.
    const files = (await messageFiles(notmuch)).filter((f) => /\/(default|threading|duplicate)\/|\/broken\/loop/.test(f));
    const reversed = [...files].reverse();
    const half = Math.ceil(reversed.length / 2);
    for (const part of [reversed.slice(0, half), reversed.slice(half)]) {
      await load(b, part);
      await processAll(b);
    }
    const [ca, cb] = [await conversations(a), await conversations(b)];
    expect(cb.size).toBeGreaterThan(60);
    const canonical = (c: Map<string, string>) => [...cb.keys()].sort().map((k) => `${k}->${c.get(k)}`);
    expect(canonical(cb)).toEqual(canonical(ca));
    // Summaries equal too, except where two files share a Message-ID (notmuch's duplicate
    // corpus): the store keeps whichever copy came first, so its subject/date differ.
    const dup = new Set(await Promise.all(files.filter((f) => /\/duplicate\//.test(f)).map(async (f) => (await headerIds(f)).id!)));
    const strip = (docs: CouchDoc[]) => docs.filter((d) => !(d.message_ids as string[]).some((id) => dup.has(id) || !cb.has(id))).map(({ _rev, rd_schema_items, ...rest }) => rest).sort((x, y) => (x._id < y._id ? -1 : 1));
    const [sa, sb] = [strip(await docsOf(a, 'rd.conv.summary')), strip(await docsOf(b, 'rd.conv.summary'))];
    expect(sa.length).toBeGreaterThan(25);
    expect(sb).toEqual(sa);
  }, 120_000);

  it("threads the cake archive's 108-message thread arriving backwards in two increments", async () => {
    const cake = await messageFiles(await corpus.unpack('cake'));
    const { comps, byFile } = await components(cake);
    const deep = comps.sort((x, y) => y.length - x.length)[0]!;
    const unique = new Set(deep.map((f) => byFile.get(f)!));
    expect(unique.size).toBeGreaterThanOrEqual(108);
    const backwards = [...deep].reverse();
    for (const part of [backwards.slice(0, 55), backwards.slice(55)]) {
      await load(a, part);
      await processAll(a);
    }
    const conv = await conversations(a);
    const ids = deep.map((f) => byFile.get(f)!);
    const g = groups(conv, ids);
    expect(g).toHaveLength(1);
    const summary = await getDoc(a.db, docIdFor(['conv', conv.get(ids[0]!)!], 'rd.conv.summary'));
    expect(summary?.message_count).toBe(unique.size);
    console.log(`cake: the largest thread has ${unique.size} messages (${deep.length} files); one conversation`);
    expect(new Set(summary?.message_ids as string[])).toEqual(unique);
    const stamps = await Promise.all((summary?.message_ids as string[]).map(async (id) => (await getDoc(a.db, docIdFor(['email', id], 'rd.msg.thread')))?.timestamp as number));
    expect(stamps).toEqual([...stamps].sort((x, y) => x - y));
  }, 180_000);

  it('links a reply without references by its subject, whichever arrives first (openwrt-devel)', async () => {
    // A patch, two replies with references, and the author's reply sent without any
    // (same base subject, shared participant, within 30 days): one conversation. Its
    // Message-ID is the smallest, so the thread's earlier messages must re-run when it
    // arrives last: they depend on the short list of such replies of their subject.
    const dir = join(await corpus.unpack('openwrt-devel'), 'openwrt-devel');
    const thread = ['003886', '003890', '004057'].map((n) => join(dir, `${n}.eml`));
    const seeker = join(dir, '003891.eml');
    const ids = await Promise.all([...thread, seeker].map(async (f) => (await headerIds(f)).id!));
    const seekerId = ids[3]!;
    expect([...ids].sort()[0]).toBe(seekerId);
    for (const [t, parts] of [[a, [thread, [seeker]]], [b, [[seeker], thread]]] as const) {
      for (const part of parts) {
        await load(t, part);
        await processAll(t);
      }
    }
    for (const t of [a, b]) {
      const conv = await conversations(t);
      expect(groups(conv, ids)).toEqual([ids]);
      expect(conv.get(ids[0]!)).toBe(seekerId);
      expect(await getDoc(t.db, docIdFor(['email', seekerId], 'rd.msg.conversation'))).toMatchObject({ joined_by_subject: true });
      expect(await getDoc(t.db, docIdFor(['email', ids[1]!], 'rd.msg.conversation'))).toMatchObject({ joined_by_subject: false });
      const summary = await getDoc(t.db, docIdFor(['conv', seekerId], 'rd.conv.summary'));
      expect(new Set(summary?.message_ids as string[])).toEqual(new Set(ids));
      const base = (await getDoc(t.db, docIdFor(['email', seekerId], 'rd.msg.thread')))?.base_subject as string;
      expect((await getDoc(t.db, docIdFor(['subject', base], 'rd.conv.subject-seekers')))?.message_ids).toEqual([seekerId]);
      expect((await getDoc(t.db, docIdFor(['subject', base], 'rd.conv.subject-index')))?.message_ids).toEqual([...ids].sort());
    }
  }, 120_000);

  it('follows rd.msg.seen: marking a message read updates the summary through dependencies', async () => {
    const id = 'mid-loop-21@example.org';
    await writeValidatedItem(registries.get(a)!, a.db, { key: ['email', id], schemaId: 'rd.msg.seen', writer: 'user', category: 'provider', confidence: 2, source: null, fields: { seen: true } });
    await processAll(a);
    const conv = (await conversations(a)).get(id)!;
    const summary = await getDoc(a.db, docIdFor(['conv', conv], 'rd.conv.summary'));
    expect(summary).toMatchObject({ unread_ids: ['mid-loop-12@example.org'], unread_count: 1 });
  }, 120_000);
});
