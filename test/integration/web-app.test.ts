/**
 * The web app in a real browser (Debian's Chromium through playwright-core) against
 * `raindrop serve` on the run's server, with real mail (openwrt-devel threads, the
 * SpamAssassin hard ham) processed by the real queue: log in, inflow counts equal the
 * grouping summaries, open a conversation (its messages become read, the count drops),
 * archive (the row leaves, undo brings it back), reply (an outgoing document is stored),
 * a message imported while the inflow is open shows up without a reload, download an
 * attachment, log out. Screenshots go to test/screenshots/ (git-ignored).
 */
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Page, Request } from 'playwright-core';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { findMessage, messageFiles, openCorpus, spamAssassinDir, type Corpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/run-cli.js';
import { queueIdle, serveApp, type ServedApp } from '../helpers/serve-app.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('webapp');
const shots = join(projectRoot, 'test', 'screenshots');
let corpus: Corpus;
let app: ServedApp;
let browser: TestBrowser;
let page: Page;
let mailDir: string;
let lateFile: string;
// The app logs in as a member made by `raindrop user add`: every write it makes must pass
// the database's validate_doc_update (CouchDB) or the embedded gate.
const member = { name: `app${randomBytes(3).toString('hex')}`, password: randomBytes(12).toString('hex') };

const shot = (name: string) => page.screenshot({ path: join(shots, `${name}${inject('couch').embedded ? '' : '-couchdb'}.png`) });

interface GroupingSummary { grouping_id: string; unread_count: number; inbox_count: number; message_count: number }
async function groupingSummaries(): Promise<Map<string, GroupingSummary>> {
  const res = (await t.db.scope.list({ startkey: 'rc!grouping.', endkey: 'rc!grouping.\ufff0', include_docs: true })) as unknown as { rows: Array<{ doc?: GroupingSummary & { rd_schema_id: string } }> };
  return new Map(res.rows.flatMap((r) => (r.doc?.rd_schema_id === 'rd.grouping.summary' && r.doc.message_count > 0 ? [[r.doc.grouping_id, r.doc] as const] : [])));
}

const countsOnScreen = (grouping: string) => page.locator(`li[data-grouping="${grouping}"]`);

beforeAll(async () => {
  await mkdir(shots, { recursive: true });
  corpus = await openCorpus(inject('corpusDir'));
  const openwrt = await messageFiles(await corpus.unpack('openwrt-devel'));
  const ham = (await messageFiles(spamAssassinDir)).filter((f) => f.includes('hard-ham-1')).slice(0, 40);
  mailDir = await mkdtemp(join(tmpdir(), 'raindrop-webapp-mail-'));
  const withAttachment = await findMessage(openwrt.slice(60, 900), /^Content-Disposition:\s*attachment;?\s*filename="?[\w.-]+\.(?:patch|diff|txt|gz|png|pdf)/im);
  expect(withAttachment, 'an openwrt-devel message with an attached file').toBeDefined();
  const chosen = [...openwrt.slice(0, 60), ...ham, ...(withAttachment ? [withAttachment.file] : [])];
  await Promise.all(chosen.map((f, i) => cp(f, join(mailDir, `${String(i).padStart(4, '0')}.eml`))));
  lateFile = openwrt[700] as string;
  app = await serveApp(t, [mailDir]);
  await writeFile(join(mailDir, 'pw'), member.password, { mode: 0o600 });
  const added = await runCli(['user', 'add', member.name, '--password-file', join(mailDir, 'pw'), '--couch', app.couchUrl, '--db', t.db.name], {});
  expect(added.code, added.stderr).toBe(0);
  await rm(join(mailDir, 'pw'));
  await queueIdle(t.db);
  browser = await launchBrowser();
  page = browser.browser.pages()[0] ?? (await browser.browser.newPage());
}, 400_000);

afterAll(async () => {
  const started = Date.now();
  const step = (what: string) => console.log(`afterAll: ${what} after ${Date.now() - started} ms`);
  await browser?.close();
  step('browser closed');
  if (app) await runCli(['user', 'remove', member.name, '--couch', app.couchUrl], {});
  step('member removed');
  await app?.stop();
  step('serve stopped');
  await corpus?.remove();
  if (mailDir) await rm(mailDir, { recursive: true, force: true });
}, 180_000);

describe('the web app', () => {
  it('refuses a wrong password and logs in with the form (cookie session, no pop-up)', async () => {
    await page.goto(app.url);
    await page.fill('input[name=name]', member.name);
    await page.fill('input[name=password]', 'not the password');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('[role=alert]').textContent()).toContain('incorrect');
    await shot('login');
    await page.fill('input[name=password]', member.password);
    await page.click('button[type=submit]');
    await page.waitForSelector('ul.groupings li');
    expect(await page.locator('header.top .user').textContent()).toBe(member.name);
    const cookies = await browser.browser.cookies();
    expect(cookies.find((c) => c.name === 'AuthSession')?.httpOnly).toBe(true);
    // Still logged in after a reload.
    await page.reload();
    await page.waitForSelector('ul.groupings li');
  });

  it('shows every grouping with the counts of its summary', async () => {
    const summaries = await groupingSummaries();
    expect(summaries.size).toBeGreaterThan(1);
    for (const [id, s] of summaries) {
      const row = countsOnScreen(id);
      await expect.poll(() => row.locator('.unread-count').textContent()).toBe(String(s.unread_count));
      expect(await row.locator('.inbox-count').textContent()).toBe(String(s.inbox_count));
    }
    // Personal first.
    expect(await page.locator('ul.groupings li').first().getAttribute('data-grouping')).toBe('personal');
    await shot('inflow');
  });

  it('opens a conversation: messages oldest first, quotes folded, and it becomes read', async () => {
    // The busiest mailing list (openwrt-devel): threads with quoted replies.
    const listId = [...(await groupingSummaries()).values()].filter((g) => g.grouping_id.startsWith('list:')).sort((a, b) => b.message_count - a.message_count)[0]?.grouping_id as string;
    expect(listId).toBeDefined();
    const before = (await groupingSummaries()).get(listId) as GroupingSummary;
    await page.click(`li[data-grouping="${listId}"] a`);
    await page.waitForSelector('ul.conversations li');
    // Headed by the name the inflow shows (its rd.grouping.info), not the grouping's id.
    const info = (await getDoc(t.db, docIdFor(['grouping', listId], 'rd.grouping.info'))) as unknown as { name: string };
    expect(info.name).not.toBe(listId.replace(/^list:/, ''));
    await expect.poll(() => page.locator('#list-title').textContent()).toBe(info.name);
    await shot('conversation-list');
    // The longest conversation on the page with unread messages.
    const convs = await page.locator('ul.conversations li.unread').evaluateAll((lis) => lis.map((li) => ({ id: li.getAttribute('data-conv') ?? '', n: Number(/\((\d+)\)/.exec(li.querySelector('.who')?.textContent ?? '')?.[1] ?? 1) })));
    const target = convs.sort((a, b) => b.n - a.n)[0];
    expect(target).toBeDefined();
    const summary = (await getDoc(t.db, docIdFor(['conv', target!.id], 'rd.conv.summary'))) as unknown as { message_ids: string[]; unread_ids: string[] };
    await page.click(`li[data-conv=${JSON.stringify(target!.id)}] a`);
    await page.waitForSelector('article.message');
    const shown = await page.locator('article.message').evaluateAll((as) => as.map((a) => a.getAttribute('data-message')));
    expect(shown).toEqual(summary.message_ids);
    expect(target!.n).toBeGreaterThan(1);
    // Replies quote: the quotes are folded (closed <details>), the own text is shown.
    expect(await page.locator('details.folded').count()).toBeGreaterThan(0);
    expect(await page.locator('details.folded[open]').count()).toBe(0);
    await shot('conversation');
    // The list's unsubscribe link fills in after the messages (read apart from them).
    await expect.poll(() => page.locator('article.message .list-info a.unsubscribe').count()).toBeGreaterThan(0);
    // Opened straight from its URL (as on a reload: the documents are asked for as the
    // script starts, beside the session check): the same messages.
    const asked = new Map<Request, { method: string; path: string; query: URLSearchParams; start: number; answered?: number; end?: number; seq?: unknown }>();
    const onAsked = (r: Request) => {
      const u = new URL(r.url());
      // Its timing is known once it is done (the long poll stays open: only that it was asked).
      asked.set(r, { method: r.method(), path: u.pathname, query: u.searchParams, start: Number.NaN });
    };
    const onDone = (r: Request) => {
      const entry = asked.get(r);
      if (!entry) return;
      entry.start = r.timing().startTime;
      entry.end = r.timing().startTime + r.timing().responseEnd;
      // When its answer began to arrive: the app can act on an answer only after that.
      // (Its end, as the network stack records it, may come a few ms after the page has
      // the body and has sent its next request: seen once, 4 ms.)
      entry.answered = r.timing().startTime + r.timing().responseStart;
      if (entry.path.endsWith('/_all_docs')) void r.response().then((res) => res?.json()).then((body: { update_seq?: unknown } | undefined) => { entry.seq = body?.update_seq; }, () => undefined);
    };
    // From a blank page, so that no request of the previous page is counted.
    const convUrl = page.url();
    await page.goto('about:blank');
    page.on('request', onAsked);
    page.on('requestfinished', onDone);
    await page.goto(convUrl);
    await page.waitForSelector('article.message');
    expect(await page.locator('article.message').evaluateAll((as) => as.map((a) => a.getAttribute('data-message')))).toEqual(summary.message_ids);
    const all = () => [...asked.values()];
    const reads = () => all().filter((r) => r.path.endsWith('/_all_docs') && r.end !== undefined).sort((a, b) => a.start - b.start);
    await expect.poll(() => all().some((r) => r.path.endsWith('/_changes')) && all().some((r) => r.path.endsWith('/_view/links_by_message') && r.end !== undefined) && reads()[0]?.seq !== undefined && reads()[1]?.end !== undefined, { timeout: 15_000 }).toBe(true);
    page.off('request', onAsked);
    page.off('requestfinished', onDone);
    // The live feed asks for no database info of its own: it follows the changes from the
    // update_seq of the app's first read, so nothing written while the screen loaded is
    // missed (CouchDB answers null for a read by keys: then it asks, after the paint
    // documents); and the links query waits for the paint documents (the second read).
    const infos = () => all().filter((r) => r.method === 'GET' && r.path === `/${t.db.name}`);
    const firstSeq = reads()[0]?.seq;
    if (typeof firstSeq === 'string' || typeof firstSeq === 'number') {
      expect(infos()).toEqual([]);
      expect(all().find((r) => r.path.endsWith('/_changes'))?.query.get('since')).toBe(String(firstSeq));
    } else {
      expect(inject('couch').embedded).toBe(false);
      await expect.poll(() => infos()[0]?.end, { timeout: 5_000 }).toBeDefined();
      expect(infos()[0]?.start).toBeGreaterThanOrEqual((reads()[1]?.answered ?? Number.NaN) - 1);
    }
    const links = all().find((r) => r.path.endsWith('/_view/links_by_message'));
    expect(links?.start).toBeGreaterThanOrEqual((reads()[1]?.answered ?? Number.NaN) - 1);
    // Opening wrote rd.msg.seen for each unread message, as `raindrop mark --seen` does.
    for (const id of summary.unread_ids) {
      await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', id], 'rd.msg.seen')))?.seen, { timeout: 15_000 }).toBe(true);
    }
    // The grouping's unread count drops on the inflow, live.
    await page.click('header.top nav a[href="#/"]');
    const expected = before.unread_count - summary.unread_ids.length;
    await expect.poll(() => countsOnScreen(listId).locator('.unread-count').textContent(), { timeout: 30_000 }).toBe(String(expected));
  });

  it('archives a conversation (the row leaves) and undo brings it back', async () => {
    await page.click('li[data-grouping="personal"] a');
    await page.waitForSelector('ul.conversations li');
    const first = page.locator('ul.conversations li').first();
    const id = (await first.getAttribute('data-conv')) as string;
    await first.locator('input[type=checkbox]').check();
    await page.click('div.actions button:has-text("Archive")');
    await expect.poll(() => page.locator(`li[data-conv=${JSON.stringify(id)}]`).count()).toBe(0);
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', id], 'rd.msg.archived')))?.archived).toBe(true);
    // The queue takes it out of the inbox view too.
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['conv', id], 'rd.conv.summary')))?.archived, { timeout: 30_000 }).toBe(true);
    await page.click('.toast button.undo');
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', id], 'rd.msg.archived')))?.archived).toBe(false);
    await expect.poll(() => page.locator(`li[data-conv=${JSON.stringify(id)}]`).count(), { timeout: 30_000 }).toBe(1);
  });

  it('replies: the draft is saved as you type and Send stores an outgoing document', async () => {
    const first = page.locator('ul.conversations li').first();
    await first.locator('a').click();
    await page.waitForSelector('article.message');
    const lastMessage = (await page.locator('article.message').last().getAttribute('data-message')) as string;
    await page.keyboard.press('r');
    await page.waitForSelector('section.compose textarea');
    await page.locator('section.compose textarea').press('Control+Home');
    await page.locator('section.compose textarea').pressSequentially('Thanks, noted.');
    await expect.poll(() => page.locator('.save-status').textContent(), { timeout: 10_000 }).toBe('Draft saved');
    const draftId = (await page.locator('section.compose form').getAttribute('data-draft')) as string;
    const draft = await getDoc(t.db, docIdFor(['email', draftId], 'rd.msg.outgoing'));
    expect(draft?.state).toBe('draft');
    await shot('compose');
    await page.click('section.compose button[type=submit]');
    await expect.poll(async () => (await getDoc(t.db, docIdFor(['email', draftId], 'rd.msg.outgoing')))?.state).toBe('send');
    const sent = (await getDoc(t.db, docIdFor(['email', draftId], 'rd.msg.outgoing'))) as Record<string, unknown>;
    expect(sent.in_reply_to).toEqual(['email', lastMessage]);
    expect(String(sent.text)).toMatch(/^Thanks, noted\.[\s\S]*wrote:\n> /);
    expect(String(sent.subject)).toMatch(/^Re: /i);
    expect((sent.to as unknown[]).length).toBeGreaterThan(0);
    expect(typeof sent.requested_at).toBe('string');
    expect(Object.keys(sent.rd_schema_items as object)).toEqual(['user']);
  });

  it('shows a message imported while the inflow is open, without a reload', async () => {
    await page.goto(`${app.url}#/`);
    await page.waitForSelector('ul.groupings li');
    const before = await groupingSummaries();
    const marker = await page.evaluate(() => ((globalThis as unknown as { __still: number }).__still = Date.now()));
    const imported = await runCli(['import', lateFile, '--couch', app.couchUrl, '--db', t.db.name], {});
    expect(imported.code, imported.stderr).toBe(0);
    let changed = '';
    await expect.poll(async () => {
      const now = await groupingSummaries();
      changed = [...now].find(([g, s]) => s.message_count !== (before.get(g)?.message_count ?? 0))?.[0] ?? '';
      return changed;
    }, { timeout: 60_000 }).not.toBe('');
    const summary = (await groupingSummaries()).get(changed) as GroupingSummary;
    await expect.poll(() => countsOnScreen(changed).locator('.inbox-count').textContent(), { timeout: 10_000 }).toBe(String(summary.inbox_count));
    expect(await page.evaluate(() => (globalThis as unknown as { __still: number }).__still)).toBe(marker);
  });

  it('downloads an attachment cut out of the raw message', async () => {
    const files = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.attach.file', reduce: false, include_docs: true, limit: 1 })) as unknown as { rows: Array<{ doc: { message: [string, string]; name: string; size: number; inline: boolean } }> };
    const file = files.rows[0]?.doc;
    expect(file, 'the corpus slice holds a message with an attachment').toBeDefined();
    const conv = await getDoc(t.db, docIdFor(file!.message, 'rd.msg.conversation'));
    const convKey = conv?.conversation_id as [string, string] | undefined;
    expect(convKey).toBeDefined();
    await page.goto(`${app.url}#/c/${encodeURIComponent(convKey![1])}`);
    const link = page.locator('ul.attachments a', { hasText: file!.name });
    await link.waitFor();
    await shot('attachment');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const path = await download.path();
    expect((await readFile(path)).length).toBe(file!.size);
  });

  it('also runs from its design document (/<db>/_design/rd_app/index.html)', async () => {
    const direct = await browser.browser.newPage();
    try {
      const errors: string[] = [];
      direct.on('pageerror', (e) => errors.push(e.message));
      await direct.goto(`${app.url}${t.db.name}/_design/rd_app/index.html`);
      await direct.waitForSelector('ul.groupings li');
      expect(await direct.locator('li[data-grouping="personal"]').count()).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await direct.close();
    }
  });

  it('names its script, style and icon after their content and lets the browser keep them: a reload fetches the page and the data only', async () => {
    const page0 = await fetch(app.url, { headers: { Accept: 'text/html' } });
    expect(page0.headers.get('cache-control')).toBe('no-cache');
    const named = [...(await page0.text()).matchAll(/(?:src|href)="((?:app|favicon)\.([0-9a-f]{10})\.(js|css|svg))"/g)];
    expect(named.map((m) => m[3]).sort()).toEqual(['css', 'js', 'svg']);
    for (const [, name, hash] of named) {
      const res = await fetch(new URL(name as string, app.url));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toContain('immutable');
      expect(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex').slice(0, 10)).toBe(hash);
    }
    await page.goto(`${app.url}#/`);
    await page.waitForSelector('ul.groupings li');
    await page.reload();
    await page.waitForSelector('ul.groupings li');
    // Resource timing: a transfer size of 0 is an answer from the browser's cache.
    const loaded = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({ path: new URL(e.name).pathname, bytes: (e as unknown as { transferSize: number }).transferSize })));
    expect(loaded.filter((e) => /^\/app\./.test(e.path)).length).toBe(2);
    const fromServer = loaded.filter((e) => e.bytes > 0).map((e) => e.path);
    expect(fromServer.filter((p) => /\.[0-9a-f]{10}\./.test(p))).toEqual([]);
  });

  it('is usable 375 px wide and in dark mode', async () => {
    const phone = await launchBrowser({ width: 375, height: 740, dark: true });
    try {
      await phone.browser.addCookies(await browser.browser.cookies());
      const p = phone.browser.pages()[0] ?? (await phone.browser.newPage());
      await p.goto(app.url);
      await p.waitForSelector('ul.groupings li');
      expect(await p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      expect(await p.evaluate(() => { const g = globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string }; document: { body: unknown } }; return g.getComputedStyle(g.document.body).backgroundColor; })).not.toBe('rgb(255, 255, 255)');
      await p.screenshot({ path: join(shots, `phone-inflow${inject('couch').embedded ? '' : '-couchdb'}.png`) });
      await p.click('ul.groupings li a');
      await p.waitForSelector('ul.conversations li');
      expect(await p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await p.screenshot({ path: join(shots, `phone-list${inject('couch').embedded ? '' : '-couchdb'}.png`) });
      await p.click('ul.conversations li a');
      await p.waitForSelector('article.message');
      expect(await p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await p.screenshot({ path: join(shots, `phone-conversation${inject('couch').embedded ? '' : '-couchdb'}.png`) });
    } finally {
      await phone.close();
    }
  });

  it('shows the shortcuts on ? and logs out', async () => {
    await page.goto(`${app.url}#/`);
    await page.waitForSelector('ul.groupings li');
    await page.keyboard.press('?');
    await page.waitForSelector('dialog.help');
    await shot('shortcuts');
    await page.keyboard.press('Escape');
    await page.click('button.logout');
    await page.waitForSelector('input[name=password]');
    await page.reload();
    await page.waitForSelector('input[name=password]');
    expect((await browser.browser.cookies()).find((c) => c.name === 'AuthSession' && c.value !== '')).toBeUndefined();
  });
});
