/**
 * The web app's detail screens and its session handling, in Chromium against `raindrop
 * serve` on the run's server with real mail (openwrt-devel threads) processed by the real
 * queue: the header's search box (served by `raindrop serve`'s search index), a
 * message's links (rd.ext.links' items), a contact's identities and
 * conversations, the status screen's queue lag and error records, "retry" (the admin's:
 * the running queue runs the extension again; a member is told to ask the admin), and a
 * session that ends while a draft is being written (the login comes back over the draft,
 * and nothing typed is lost).
 *
 * The error record comes from a small extension installed for the test that fails on one
 * message until that message is flagged; flagging does not re-run it (it reads the flag,
 * it does not depend on it), so only a retry can clear the error.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/run-cli.js';
import { queueIdle, serveApp, type ServedApp } from '../helpers/serve-app.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('webscreens');
const shots = join(projectRoot, 'test', 'screenshots');
const member = { name: `scr${randomBytes(3).toString('hex')}`, password: randomBytes(12).toString('hex') };
let corpus: Corpus;
let app: ServedApp;
let browser: TestBrowser;
let page: Page;
let work: string;
let target: string;

const shot = (name: string) => page.screenshot({ path: join(shots, `${name}${inject('couch').embedded ? '' : '-couchdb'}.png`), fullPage: true });

interface Row<D> { doc: D }
async function docsOf<D>(schema: string): Promise<D[]> {
  const r = (await t.db.scope.view('rd_core', 'by_schema', { key: schema, reduce: false, include_docs: true })) as unknown as { rows: Array<Row<D>> };
  return r.rows.map((row) => row.doc);
}

async function logIn(name: string, password: string): Promise<void> {
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

const flagCheck = (id: string) => `// @ts-check
/** Fails on one message until it is flagged (a test of "retry"). */
export default {
  id: 'test.flag-check',
  source_schemas: ['rd.msg.email'],
  emits: ['test.flag-check'],
  reads: ['rd.msg.flagged'],
  category: 'provider',
  handler(doc, rd) {
    if (doc.rd_key[1] !== ${JSON.stringify(id)}) return;
    const flag = rd.open(doc.rd_key, 'rd.msg.flagged');
    if (!flag || flag.flagged !== true) throw new Error('not flagged yet');
    rd.emit('test.flag-check', { flagged: true });
  },
};
`;
const flagCheckSchema = { id: 'test.flag-check', version: 1, description: 'The test extension\'s output: the message was flagged when it ran.', key_types: ['email'], json_schema: { type: 'object', required: ['flagged'], additionalProperties: false, properties: { flagged: { type: 'boolean' } } }, examples: { 1: [{ flagged: true }] } };

beforeAll(async () => {
  await mkdir(shots, { recursive: true });
  corpus = await openCorpus(inject('corpusDir'));
  const openwrt = (await messageFiles(await corpus.unpack('openwrt-devel'))).slice(0, 80);
  work = await mkdtemp(join(tmpdir(), 'raindrop-webscreens-'));
  await mkdir(join(work, 'mail'));
  await mkdir(join(work, 'ext'));
  await Promise.all(openwrt.map((f, i) => cp(f, join(work, 'mail', `${String(i).padStart(4, '0')}.eml`))));
  const key = messageKey(await readFile(openwrt[5] as string));
  if (!key.ok) throw new Error(key.reason);
  target = key.key[1];
  await writeFile(join(work, 'ext', 'flag-check.js'), flagCheck(target));
  await writeFile(join(work, 'ext', 'test.flag-check.json'), JSON.stringify(flagCheckSchema, null, 2));
  app = await serveApp(t, [join(work, 'mail')], ['--extensions', join(work, 'ext')]);
  await writeFile(join(work, 'pw'), member.password, { mode: 0o600 });
  const added = await runCli(['user', 'add', member.name, '--password-file', join(work, 'pw'), '--couch', app.couchUrl, '--db', t.db.name], {});
  expect(added.code, added.stderr).toBe(0);
  await queueIdle(t.db);
  browser = await launchBrowser();
  page = browser.browser.pages()[0] ?? (await browser.browser.newPage());
  await page.goto(app.url);
  await logIn(member.name, member.password);
  await page.waitForSelector('ul.groupings li');
}, 400_000);

afterAll(async () => {
  await browser?.close();
  if (app) await runCli(['user', 'remove', member.name, '--couch', app.couchUrl], {});
  await app?.stop();
  await corpus?.remove();
  if (work) await rm(work, { recursive: true, force: true });
}, 180_000);

describe('the web app\'s detail screens', () => {
  it('lists a message\'s links, as rd.ext.links found them, in order', async () => {
    const links = await docsOf<{ message: [string, string]; url: string; position: number }>('rd.attach.link');
    const byMessage = new Map<string, Array<{ url: string; position: number }>>();
    for (const l of links) byMessage.set(l.message[1], [...(byMessage.get(l.message[1]) ?? []), l]);
    // The message with the most links.
    const [messageId, own] = [...byMessage].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
    expect(own?.length, 'the corpus slice has messages with links').toBeGreaterThan(0);
    const conv = (await getDoc(t.db, docIdFor(['email', messageId as string], 'rd.msg.conversation')))?.conversation_id as [string, string];
    await page.goto(`${app.url}#/c/${encodeURIComponent(conv[1])}`);
    const shown = page.locator(`article[data-message=${JSON.stringify(messageId)}] ul.links a`);
    await expect.poll(() => shown.count(), { timeout: 15_000 }).toBe(own!.length);
    expect(await shown.evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual([...own!].sort((a, b) => a.position - b.position).map((l) => l.url));
    // Opened in a new tab without the app as referrer or opener.
    expect(await shown.first().getAttribute('rel')).toBe('noopener noreferrer');
    await shot('conversation-links');
  });

  it('searches from the header: "/" focuses the box, a row per conversation with the word marked, a row opens it', async () => {
    // A word of one message's subject only (the index tokenizes on what is not a letter or
    // digit, so only whole all-letter tokens are taken).
    const emails = await docsOf<{ rd_key: [string, string]; subject?: string }>('rd.msg.email');
    const owners = new Map<string, Set<string>>();
    for (const e of emails) {
      for (const w of new Set((e.subject ?? '').toLowerCase().split(/[^\p{L}\p{N}]+/u))) {
        if (/^\p{L}{7,}$/u.test(w)) owners.set(w, (owners.get(w) ?? new Set()).add(e.rd_key[1]));
      }
    }
    const [word, messages] = [...owners].sort((a, b) => (a[0] < b[0] ? -1 : 1)).find(([, m]) => m.size === 1) ?? [];
    expect(word, 'the corpus slice has a subject word of one message').toBeDefined();
    const messageId = [...messages!][0] as string;
    const conv = (await getDoc(t.db, docIdFor(['email', messageId], 'rd.msg.conversation')))?.conversation_id as [string, string];
    await page.goto(`${app.url}#/`);
    await page.waitForSelector('ul.groupings li');
    await page.keyboard.press('/');
    expect(await page.locator('#search-box').evaluate((el) => el === (el.ownerDocument as { activeElement: unknown }).activeElement)).toBe(true);
    await page.keyboard.type(word!);
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.hash.startsWith('#/search?q='));
    const target = page.locator(`.search-results ul.conv-list a[href=${JSON.stringify(`#/c/${encodeURIComponent(conv[1])}`)}]`);
    // The index follows the feed behind the queue: search again until it has the message.
    await expect.poll(async () => {
      if ((await target.count()) === 0 && (await page.locator('.search-results p.empty, .search-results li').count()) > 0) await page.reload();
      return target.count();
    }, { timeout: 60_000, interval: 1000 }).toBe(1);
    expect((await target.locator('mark').allTextContents()).map((m) => m.toLowerCase())).toContain(word);
    await shot('search-results');
    await target.click();
    await page.waitForSelector(`article[data-message=${JSON.stringify(messageId)}]`);
    // A malformed query is named, not answered with nothing.
    await page.goto(`${app.url}#/search?q=${encodeURIComponent('before:someday')}`);
    await expect.poll(() => page.locator('.search-results p.error[role=alert]').textContent(), { timeout: 15_000 }).toMatch(/"someday" is not a date/);
  });

  it('shows a contact with its identities and the conversations they write in', async () => {
    const contacts = await docsOf<{ _id: string; identities: Array<[string, string]>; name: string | null }>('rd.contact');
    const summaries = await docsOf<{ rd_key: [string, string]; participants: Array<{ address?: string }>; latest_timestamp: number | null }>('rd.conv.summary');
    const convsOf = (c: { identities: Array<[string, string]> }) => {
      const mine = new Set(c.identities.map((i) => i[1].toLowerCase()));
      return summaries.filter((s) => s.participants.some((p) => mine.has((p.address ?? '').toLowerCase())));
    };
    // The contact with the most conversations (a busy list poster).
    const contact = [...contacts].sort((a, b) => convsOf(b).length - convsOf(a).length)[0];
    expect(contact).toBeDefined();
    const expected = convsOf(contact!);
    expect(expected.length).toBeGreaterThan(1);
    await page.goto(`${app.url}#/contacts`);
    await page.locator(`ul.contacts a.name[href=${JSON.stringify(`#/p/${encodeURIComponent(contact!._id)}`)}]`).click();
    await page.waitForSelector('ul.contact-conversations li');
    expect(await page.locator('ul.identities a').evaluateAll((as) => as.map((a) => a.textContent))).toEqual(contact!.identities.map((i) => i[1]));
    const shown = await page.locator('ul.contact-conversations li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-conv')));
    expect([...shown].sort()).toEqual(expected.map((s) => s.rd_key[1]).sort());
    // Newest first.
    const latest = new Map(expected.map((s) => [s.rd_key[1], s.latest_timestamp ?? 0]));
    const times = shown.map((id) => latest.get(id as string) ?? 0);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    await shot('contact');
    // A row opens the conversation.
    await page.locator('ul.contact-conversations li a').first().click();
    await page.waitForSelector('article.message');
  });

  it('shows the queue\'s lag per extension and the error records; a member may not retry', async () => {
    await page.goto(`${app.url}#/status`);
    const record = page.locator('table.error-records tbody tr', { hasText: 'test.flag-check' });
    await record.waitFor();
    expect(await record.locator('.source').textContent()).toBe(docIdFor(['email', target], 'rd.msg.email'));
    expect(await record.locator('.message').textContent()).toContain('not flagged yet');
    expect(await page.locator('ul.error-counts li[data-ext="test.flag-check"] .count').textContent()).toBe('1');
    expect(await page.locator('button.retry').count()).toBe(0);
    expect(await page.locator('p.hint').first().textContent()).toContain('only the admin');
    // The same lag per extension as `raindrop status`, once the queue is idle again (the
    // conversations opened above were marked read: work for it). The screen follows the
    // checkpoints live.
    await queueIdle(t.db);
    const status = await runCli(['status', '--json', '--couch', app.couchUrl, '--db', t.db.name], {});
    expect(status.code, status.stderr).toBe(0);
    const cli = (JSON.parse(status.stdout) as { extensions: Array<{ id: string; lag: number; state: string }> }).extensions;
    expect(cli.length).toBeGreaterThan(5);
    for (const e of cli) {
      const row = page.locator(`table.queue-lag tr[data-ext=${JSON.stringify(e.id)}]`);
      await expect.poll(() => row.locator('.lag').textContent(), { message: e.id, timeout: 15_000 }).toBe(String(e.lag));
      expect(await row.locator('td').nth(1).textContent(), e.id).toBe(e.state);
    }
    await shot('status-member');
  });

  it('keeps what was typed in a draft when the session ends, and saves it after the login', async () => {
    await page.goto(`${app.url}#/compose`);
    const text = page.locator('section.compose textarea');
    await text.waitFor();
    await text.pressSequentially('Before the session ended.');
    await expect.poll(() => page.locator('.save-status').textContent(), { timeout: 10_000 }).toBe('Draft saved');
    const draftId = (await page.locator('section.compose form').getAttribute('data-draft')) as string;
    // More is typed, and the session ends before it is saved (the save waits for a pause
    // in the typing). CouchDB's session is the cookie alone (nothing to delete on the
    // server), so the browser losing it is what ending looks like to the app. Typed at
    // once (fill): whichever request first finds the session gone (the save, or the live
    // feed's next poll) brings the login, which then takes the keyboard.
    await text.fill('Before the session ended. And after.');
    await browser.browser.clearCookies();
    const overlay = page.locator('.login.overlay');
    await overlay.waitFor({ timeout: 10_000 });
    expect(await overlay.locator('[role=alert]').textContent()).toContain('session ended');
    await shot('session-ended');
    expect(await text.inputValue()).toBe('Before the session ended. And after.');
    await overlay.locator('input[name=name]').fill(member.name);
    await overlay.locator('input[name=password]').fill(member.password);
    await overlay.locator('button[type=submit]').click();
    await overlay.waitFor({ state: 'detached' });
    expect(await text.inputValue()).toBe('Before the session ended. And after.');
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', draftId], 'rd.msg.outgoing')))?.text, { timeout: 15_000 }).toBe('Before the session ended. And after.');
    // The live feed follows again: the inflow still updates (it reloads on the feed).
    await page.goto(`${app.url}#/`);
    await page.waitForSelector('ul.groupings li');
  });

  it('lets the admin retry: the running queue runs the extension again', async () => {
    const errorId = docIdFor(['email', target], 'rd.core.error');
    const flagged = await runCli(['mark', '--flag', target, '--couch', app.couchUrl, '--db', t.db.name], {});
    expect(flagged.code, flagged.stderr).toBe(0);
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', target], 'rd.msg.flagged')))?.flagged).toBe(true);
    await queueIdle(t.db);
    // Flagging alone does not re-run the extension.
    expect(Object.keys(((await getDoc(t.db, errorId))?.rd_schema_items ?? {}) as object)).toContain('test.flag-check');
    await page.click('button.logout');
    await page.waitForSelector('input[name=password]');
    await logIn(t.username, t.password);
    await page.waitForSelector('ul.groupings li');
    await page.goto(`${app.url}#/status`);
    const retry = page.locator('ul.error-counts li[data-ext="test.flag-check"] button.retry');
    await retry.waitFor();
    await shot('status-admin');
    await retry.click();
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', target], 'test.flag-check')))?.flagged, { timeout: 30_000 }).toBe(true);
    await expect.poll(async () => Object.keys(((await getDoc(t.db, errorId))?.rd_schema_items ?? {}) as object)).not.toContain('test.flag-check');
    // The request is gone once handled, and the screen follows.
    await expect.poll(async () => getDoc(t.db, docIdFor(['ext', 'test.flag-check'], 'rd.core.retry-request'))).toBeUndefined();
    await expect.poll(() => page.locator('ul.error-counts li[data-ext="test.flag-check"]').count(), { timeout: 15_000 }).toBe(0);
  });
});
