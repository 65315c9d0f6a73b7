/**
 * Identities and contacts, mailing lists, groupings and user flags (rd.ext.identities,
 * rd.ext.mailing-list, rd.ext.grouping, rd.ext.conversation) under the real queue on real
 * mail: a slice of the openwrt-devel archive and of SpamAssassin's easy ham, plus three
 * hand-made service messages (GitHub, Jira, a calendar invitation). Expected counts are
 * read from the raw headers here, independently of the extensions.
 */
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger, type RdKey } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { unprocess } from '../../src/queue/maintenance.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import { messageFiles, openCorpus, spamAssassinDir, type Corpus } from '../helpers/corpus.js';
import { runQueueOnce } from '../helpers/queue.js';
import { runCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('groupings');
let registry: SchemaRegistry;
let corpus: Corpus;
let openwrt: Array<{ file: string; from: string; listId: string | null; id: string }> = [];
let me = '';

/** From, List-Id and Message-ID read from the raw header block, not by our parser. */
async function rawHeaders(file: string) {
  const text = (await readFile(file, 'latin1')).split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const header = (name: string) => new RegExp(`^${name}:(.*)$`, 'im').exec(text)?.[1]?.trim() ?? '';
  const angle = (v: string) => /<([^<>\s]+)>/.exec(v)?.[1] ?? null;
  const from = (angle(header('from')) ?? header('from')).toLowerCase();
  return { from, listId: angle(header('list-id'))?.toLowerCase() ?? null, id: angle(header('message-id')) ?? '' };
}

const handMade = (id: string, headers: string, body = 'Hello.\r\n') =>
  Buffer.from(`Message-ID: <${id}>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nTo: someone@example.org\r\nSubject: ${id}\r\n${headers}\r\n${body}`);

const user = { writer: 'user', category: 'provider' as const, confidence: 2, source: null };
const mark = (key: RdKey, schemaId: string, fields: Record<string, boolean>) => writeValidatedItem(registry, t.db, { key, schemaId, fields, ...user });
const doc = (key: RdKey, schema: string) => getDoc(t.db, docIdFor(key, schema));
const processAll = () => runQueueOnce(t.db, registry, 2);

beforeAll(async () => {
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(t.db, builtInSchemaDir());
  registry = await SchemaRegistry.load(t.db);
  corpus = await openCorpus(inject('corpusDir'));
  const only = join(corpus.dir, 'grouping-extensions');
  await mkdir(only, { recursive: true });
  for (const file of ['email.js', 'thread.js', 'conversation.js', 'identities.js', 'mailing-list.js', 'grouping.js']) await cp(join(projectRoot, 'extensions', file), join(only, file));
  expect((await installExtensions(registry, t.db, [only], silentLogger)).refused).toEqual([]);

  const files = (await messageFiles(await corpus.unpack('openwrt-devel'))).slice(0, 150);
  openwrt = await Promise.all(files.map(async (file) => ({ file, ...(await rawHeaders(file)) })));
  // "Me": the archive's most frequent sender, so their list mail is mail I sent.
  const bySender = new Map<string, number>();
  for (const m of openwrt) bySender.set(m.from, (bySender.get(m.from) ?? 0) + 1);
  me = [...bySender].sort((a, b) => b[1] - a[1])[0]![0];
  await writeValidatedItem(registry, t.db, { key: ['account', 'me'], schemaId: 'rd.account', writer: 'core', category: 'provider', source: null, fields: { name: 'me', protocol: 'imap', username: 'me', identities: [['email', me]] } });

  const ham = (await messageFiles(spamAssassinDir)).filter((f) => f.includes('easy-ham-1')).slice(0, 60);
  const messages = [...files, ...ham].map((f) => readFile(f));
  const bytes = [
    ...(await Promise.all(messages)),
    handMade('gh-1@github.example', 'From: GitHub <notifications@github.com>\r\nX-GitHub-Reason: mention\r\nList-Id: openwrt/openwrt <openwrt.openwrt.github.com>\r\n'),
    handMade('jira-1@jira.example', 'From: Jira <jira@issues.example.org>\r\nX-JIRA-FingerPrint: abc\r\n'),
    handMade('cal-1@cal.example', 'From: Ann Example <ann@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\nMIME-Version: 1.0\r\n',
      '--b\r\nContent-Type: text/plain\r\n\r\nInvitation\r\n--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n'),
  ];
  const stored = await storeRawMessages(registry, t.db, bytes.map((b) => ({ bytes: b, receivedFrom: 'import:test' })));
  expect(stored.filter((r) => r.outcome === 'refused')).toEqual([]);
  await processAll();
}, 300_000);
afterAll(async () => {
  await registry?.close();
  await corpus?.remove();
});

describe('mailing lists, identities, groupings and flags', () => {
  it('counts each list once per message, exactly as the List-Id headers say, and again after a re-run', async () => {
    const expected = new Map<string, number>();
    for (const m of openwrt) if (m.listId) expected.set(m.listId, (expected.get(m.listId) ?? 0) + 1);
    expect(expected.size).toBeGreaterThan(0);
    for (const [listId, count] of expected) {
      expect(await doc(['mailing-list', listId], 'rd.mailing-list')).toMatchObject({ list_id: listId, message_count: count, post: expect.stringContaining('@') });
    }
    const tag = await doc(['email', openwrt.find((m) => m.listId)!.id], 'rd.msg.email.mailing-list');
    expect(tag?.list_id).toBe(openwrt.find((m) => m.listId)!.listId);
    // A second run over the same mail (nothing changed) must not count anything twice.
    await processAll();
    const [listId, count] = [...expected][0]!;
    expect((await doc(['mailing-list', listId], 'rd.mailing-list'))?.message_count).toBe(count);
    // unprocess takes the later_handler's counters too, so processing again recounts from zero.
    await unprocess({ db: t.db }, ['rd.ext.mailing-list']);
    expect(await doc(['mailing-list', listId], 'rd.mailing-list')).toBeUndefined();
    await processAll();
    expect((await doc(['mailing-list', listId], 'rd.mailing-list'))?.message_count).toBe(count);
  });

  it('keeps an identity per address with frequency, recency and the relationship from mail I sent', async () => {
    const sender = openwrt.find((m) => m.from !== me && m.from.includes('@'))!.from;
    const fromIt = openwrt.filter((m) => m.from === sender).length;
    const identity = await doc(['identity', ['email', sender]], 'rd.identity');
    expect(identity).toMatchObject({ address: sender, from_count: fromIt, mine: false });
    expect(identity?.message_count as number).toBeGreaterThanOrEqual(fromIt);
    expect(typeof identity?.last_seen).toBe('number');
    const mine = await doc(['identity', ['email', me]], 'rd.identity');
    expect(mine).toMatchObject({ mine: true, from_count: openwrt.filter((m) => m.from === me).length });
    // Every message I sent to the list is a message sent by me to the list's address.
    const listAddress = (await doc(['mailing-list', openwrt.find((m) => m.listId)!.listId!], 'rd.mailing-list'))?.post as string;
    const toList = await doc(['identity', ['email', listAddress]], 'rd.identity');
    expect(toList?.sent_by_me_count).toBe(openwrt.filter((m) => m.from === me).length);
    const contact = await doc(['contact', String(identity?.contact_id)], 'rd.contact');
    expect(contact?.identities).toContainEqual(['email', sender]);
  });

  it('puts every message in one grouping: sent, lists, services, personal; the counts add up', async () => {
    expect((await doc(['email', 'gh-1@github.example'], 'rd.msg.grouping-tag'))?.grouping_id).toBe('notifications.github');
    expect((await doc(['email', 'jira-1@jira.example'], 'rd.msg.grouping-tag'))?.grouping_id).toBe('notifications.jira');
    expect((await doc(['email', 'cal-1@cal.example'], 'rd.msg.grouping-tag'))?.grouping_id).toBe('calendar');
    const mineId = openwrt.find((m) => m.from === me)!.id;
    expect((await doc(['email', mineId], 'rd.msg.grouping-tag'))?.grouping_id).toBe('sent');
    const listMsg = openwrt.find((m) => m.from !== me && m.listId)!;
    expect((await doc(['email', listMsg.id], 'rd.msg.grouping-tag'))?.grouping_id).toBe(`list:${listMsg.listId}`);
    const info = await doc(['grouping', `list:${listMsg.listId}`], 'rd.grouping.info');
    expect(info).toMatchObject({ static: false, kind: 'list', list_id: listMsg.listId });
    expect(await doc(['grouping', 'personal'], 'rd.grouping.info')).toMatchObject({ static: true, order: 0 });
    // The summaries' message counts add up to the messages tagged.
    const tags = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.msg.grouping-tag', reduce: false, include_docs: true })) as unknown as { rows: Array<{ doc: CouchDoc }> };
    const perGrouping = new Map<string, number>();
    for (const r of tags.rows) perGrouping.set(String(r.doc.grouping_id), (perGrouping.get(String(r.doc.grouping_id)) ?? 0) + 1);
    for (const [g, n] of perGrouping) expect((await doc(['grouping', g], 'rd.grouping.summary'))).toMatchObject({ message_count: n, unread_count: n, inbox_count: n });
    expect(perGrouping.get('personal')).toBeGreaterThan(0);
  });

  it('moves counts exactly when the user reads, flags, archives, deletes, or marks a sender bulk', async () => {
    const list = openwrt.filter((m) => m.from !== me && m.listId);
    const g = ['grouping', `list:${list[0]!.listId}`] as RdKey;
    const before = (await doc(g, 'rd.grouping.summary'))!;
    await mark(['email', list[0]!.id], 'rd.msg.seen', { seen: true });
    await mark(['email', list[1]!.id], 'rd.msg.flagged', { flagged: true });
    await mark(['email', list[2]!.id], 'rd.msg.archived', { archived: true });
    await mark(['email', list[3]!.id], 'rd.msg.deleted', { deleted: true });
    await processAll();
    const after = (await doc(g, 'rd.grouping.summary'))!;
    expect(after).toMatchObject({
      message_count: (before.message_count as number) - 1,
      inbox_count: (before.inbox_count as number) - 2,
      unread_count: (before.unread_count as number) - 3,
      flagged_count: (before.flagged_count as number) + 1,
    });
    // The conversation summary follows the same flags.
    const conv = (await doc(['email', list[1]!.id], 'rd.msg.conversation'))?.conversation_id as RdKey;
    const summary = await doc(conv, 'rd.conv.summary');
    expect(summary?.flagged_ids).toContain(list[1]!.id);
    expect(Object.keys(summary?.groupings as object)).toContain(`list:${list[0]!.listId}`);
    // Marking the sender of personal mail bulk moves all their mail; unmarking moves it back.
    const personal = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.msg.grouping-tag', reduce: false, include_docs: true })) as unknown as { rows: Array<{ doc: CouchDoc }> };
    const victim = personal.rows.find((r) => r.doc.grouping_id === 'personal')!.doc;
    const sender = (await doc(victim.rd_key as RdKey, 'rd.msg.email'))?.from as { address: string };
    const bulkBefore = ((await doc(['grouping', 'bulk'], 'rd.grouping.summary'))?.message_count as number | undefined) ?? 0;
    // As a user does it: the CLI (a bad address is a usage error).
    const url = new URL(t.url);
    url.username = encodeURIComponent(t.username);
    url.password = encodeURIComponent(t.password);
    const couch = ['--couch', url.toString(), '--db', t.db.name];
    expect((await runCli(['mark', '--bulk-sender', 'not-an-address', ...couch], {})).code).toBe(2);
    expect((await runCli(['mark', '--bulk-sender', sender.address.toUpperCase(), ...couch], {})).code).toBe(0);
    await processAll();
    expect((await doc(victim.rd_key as RdKey, 'rd.msg.grouping-tag'))).toMatchObject({ grouping_id: 'bulk', reason: 'sender marked bulk' });
    expect(((await doc(['grouping', 'bulk'], 'rd.grouping.summary'))?.message_count as number)).toBeGreaterThan(bulkBefore);
    await mark(['identity', ['email', sender.address]], 'rd.identity.sender-flags', { bulk: false });
    await processAll();
    expect((await doc(victim.rd_key as RdKey, 'rd.msg.grouping-tag'))?.grouping_id).toBe('personal');
    expect(((await doc(['grouping', 'bulk'], 'rd.grouping.summary'))?.message_count as number)).toBe(bulkBefore);
  }, 120_000);
});
