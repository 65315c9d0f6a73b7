import { join } from 'node:path';
import { corpusDirSetting, webBenchMessagesSetting, webBenchWarmSetting } from '../src/config/index.js';
import { chromium, type Page, type Request } from 'playwright-core';
import { installDatabase } from '../src/cli/install.js';
import { projectRoot } from '../src/core/entry-points.js';
import { silentLogger } from '../src/core/index.js';
import { type Couch, useDatabase } from '../src/couch/connect.js';
import { destroyDatabase } from '../src/couch/ensure-database.js';
import { readAppFiles } from '../src/couch/push-app.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import { startAppServer } from '../src/web/app-server.js';
import { openCorpus } from '../test/helpers/corpus.js';
import { realMessageFiles } from './real-message-files.js';
import { chromiumPath } from '../test/helpers/browser.js';
import { type Benchmark, type Measurement, median } from './harness.js';
import { loadRaw } from './mail-cascade.bench.js';
import { catchUpEmptyDatabase, timedQueueRun } from './timed-queue-run.js';
import { measureLiveUpdates } from './web-live.js';
import { appViews, startViewWarmer, warmLimits } from '../src/web/view-warmer.js';

/**
 * The web app in Chromium on a database of real mail processed by the real queue (at
 * least 15,000 messages by default: openwrt-devel, cake, the SpamAssassin set; set
 * RAINDROP_BENCH_WEB_N for a quicker run): time from navigation to the inflow's content
 * painted, and to a conversation's messages painted, median and p95 over 20 fresh page
 * loads each (logged in, browser cache on, as a user reloading). Baseline of the same
 * run: the login form painted (the same app, no data), so the ratios say what the data
 * costs. Goals of the issue: inflow ≤ 300 ms, conversation ≤ 200 ms. Also: the requests
 * one conversation load makes (logged), the time from a new message's summary write to
 * its row on an open conversation list (10 imports; goal 2 s), and how long after the
 * queue goes idle the app's views are ready (warmed as serve warms them, or cold with
 * RAINDROP_BENCH_WEB_WARM=0).
 */
const loads = 20;
/** New messages imported while a conversation list is open (live updates). */
const liveImports = 10;

const p95 = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil(values.length * 0.95) - 1)] as number;

/** Every request one conversation load makes, with its start and end (ms from the
 * navigation), so one sees what runs in series and what in parallel. */
async function profileConversation(page: Page, url: string): Promise<string> {
  await page.goto('about:blank');
  const requests: Array<{ path: string; start: number; end: number }> = [];
  const onDone = (r: Request) => {
    const t = r.timing();
    const u = new URL(r.url());
    requests.push({ path: `${r.method()} ${u.pathname.replace(/^\/[^/]+\//, 'DB/')}${u.search ? '?…' : ''}`, start: t.startTime, end: t.startTime + t.responseEnd });
  };
  page.on('requestfinished', onDone);
  try {
    await page.goto(url);
    await page.waitForSelector('article.message', { timeout: 60_000 });
    // Not 'networkidle': the live feed's long poll never ends. What follows the paint
    // (attachments, links) is done well within this.
    await page.waitForTimeout(1_500);
  } finally {
    page.off('requestfinished', onDone);
  }
  const t0 = Math.min(...requests.map((r) => r.start));
  // The same load as the page saw it (ms from its navigation start): the page's own
  // answer, its files (0 bytes: from the browser's cache), when the app's script had run
  // far enough to ask for data, and when the first message was there.
  const seen = await page.evaluate(() => {
    const entries = (type: string) => (performance as unknown as { getEntriesByType(t: string): unknown[] }).getEntriesByType(type);
    const nav = entries('navigation')[0] as { responseEnd: number; domContentLoadedEventEnd: number };
    const files = entries('resource') as Array<{ name: string; startTime: number; responseEnd: number; transferSize: number; initiatorType: string }>;
    const firstData = Math.min(...files.filter((f) => f.initiatorType === 'fetch').map((f) => f.startTime));
    return { html: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, firstData, files: files.filter((f) => f.initiatorType !== 'fetch').map((f) => `${new URL(f.name).pathname} ${f.startTime.toFixed(0)}→${f.responseEnd.toFixed(0)}${f.transferSize === 0 ? ' (cache)' : ''}`) };
  });
  const page0 = `  page: index.html in at ${seen.html.toFixed(0)}, DOMContentLoaded ${seen.dcl.toFixed(0)}, first data request ${seen.firstData.toFixed(0)} ms; ${seen.files.join(', ')}`;
  return [page0, ...requests.sort((a, b) => a.start - b.start).map((r) => `  ${(r.start - t0).toFixed(0).padStart(5)} → ${(r.end - t0).toFixed(0).padStart(5)}  ${r.path}`)].join('\n');
}

export function webAppBenchmark(couch: Couch, login: { username: string; password: string } | undefined): Benchmark {
  return {
    name: 'web-app',
    async run(ctx) {
      const n = webBenchMessagesSetting();
      if (!login) throw new Error('the web-app benchmark needs the server\'s admin login (embedded, or credentials in the CouchDB URL)');
      const corpus = await openCorpus(corpusDirSetting());
      const name = `bench_web_${Date.now()}`;
      let registry: SchemaRegistry | undefined;
      try {
        const files = await realMessageFiles(corpus, n);
        await installDatabase(couch, name, [], silentLogger);
        const db = useDatabase(couch, name);
        registry = await SchemaRegistry.load(db);
        await catchUpEmptyDatabase(db, registry);
        const load = await loadRaw(registry, db, files);
        ctx.log(`web-app: ${load.stored} messages stored; processing`);
        // As `raindrop serve` does (unless RAINDROP_BENCH_WEB_WARM=0): the app's views are
        // brought up to date once the queue is at the head of the feed, so what is left to
        // build is what a user's first page load would wait for.
        const warming = webBenchWarmSetting();
        const warmer = warming ? startViewWarmer(db, silentLogger) : undefined;
        let run: Awaited<ReturnType<typeof timedQueueRun>>;
        let idleAt = 0;
        try {
          run = await timedQueueRun(db, registry, ctx.log, () => warmer?.poke());
          idleAt = performance.now();
          warmer?.busy(false);
          while (warmer && warmer.rounds === 0) await new Promise((r) => setTimeout(r, 100));
          if (warmer) ctx.log(`web-app: the warmer's round after the queue went idle took ${((performance.now() - idleAt) / 1000).toFixed(1)} s (${warmLimits.quietMs / 1000} s of it waiting for quiet)`);
        } finally {
          await warmer?.close();
        }
        ctx.log(`web-app: processed in ${run.seconds.toFixed(0)} s (${run.report.written} documents), views warmed during the run: ${warming ? `yes, ${warmer?.rounds} rounds` : 'no'}`);

        // The app's views are built once before the clock runs: the measurement is of a
        // user opening the app, not of the first index build (timed apart).
        // A build can outlast one HTTP request's header timeout (the embedded server took
        // more than 5 minutes over 390,000 documents): ask again until it answers.
        const v0 = performance.now();
        for (const [ddoc, view] of appViews) {
          for (let attempt = 1; ; attempt++) {
            try {
              await db.scope.view(ddoc, view, { limit: 1 });
              break;
            } catch (err) {
              if (attempt >= 12) throw err;
              ctx.log(`web-app: ${view} still building (${(err as Error).message})`);
            }
          }
        }
        // From the moment the queue went idle, the warmer's round included: that is how
        // long a user who opens the app right after an import waits for its first page
        // (the time of the checks above alone once hid a 4-minute round).
        const viewSeconds = (performance.now() - idleAt) / 1000;
        ctx.log(`web-app: views ready ${viewSeconds.toFixed(1)} s after the queue went idle (${warming ? 'warmed as serve warms them' : 'not warmed: the first build'}; ${((performance.now() - v0) / 1000).toFixed(1)} s of it after the warmer)`);
        const app = await startAppServer({ couchUrl: couch.url, db: name, files: await readAppFiles(join(projectRoot, 'dist', 'couchapp', 'app')), port: 0, logger: silentLogger });
        const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
        try {
          const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
          const page = await context.newPage();
          // Painted: the element is in the DOM and two animation frames have passed.
          const paintedAt = (selector: string) => page.waitForSelector(selector, { timeout: 10_000 }).then(() => page.evaluate(() => new Promise<number>((r) => { const raf = (globalThis as unknown as { requestAnimationFrame(f: () => void): void }).requestAnimationFrame; raf(() => raf(() => r(performance.now()))); })));
          const baseline: number[] = [];
          for (let i = 0; i < loads; i++) {
            await page.goto(app.url);
            baseline.push(await paintedAt('input[name=password]'));
          }
          await page.fill('input[name=name]', login.username);
          await page.fill('input[name=password]', login.password);
          await page.click('button[type=submit]');
          await page.waitForSelector('ul.groupings li');
          const inflow: number[] = [];
          for (let i = 0; i < loads; i++) {
            await page.goto(`${app.url}#/`);
            await page.reload();
            inflow.push(await paintedAt('ul.groupings li'));
          }
          // The busiest grouping at the top of the inflow (a list archive has no personal mail).
          await page.goto(`${app.url}#/`);
          await page.reload();
          await page.click('ul.groupings li a');
          await page.waitForSelector('ul.conversations li', { timeout: 120_000 });
          const convIds = await page.locator('ul.conversations li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-conv') ?? ''));
          ctx.log(`web-app: inflow painted, median ${median(inflow).toFixed(0)} ms, p95 ${p95(inflow).toFixed(0)} ms; baseline ${median(baseline).toFixed(0)} ms`);
          ctx.log(`web-app: requests of one conversation load (ms from navigation):\n${await profileConversation(page, `${app.url}#/c/${encodeURIComponent(convIds[0] as string)}`)}`);
          const conversation: number[] = [];
          let failed = 0;
          for (let i = 0; i < loads; i++) {
            const id = convIds[i % convIds.length] as string;
            await page.goto(`${app.url}#/c/${encodeURIComponent(id)}`);
            await page.reload();
            try {
              conversation.push(await paintedAt('article.message'));
            } catch (err) {
              failed++;
              await page.screenshot({ path: join(projectRoot, 'bench', 'results', `web-app-conversation-failed-${i}.png`) }).catch(() => undefined);
              ctx.log(`web-app: conversation ${id} did not show: ${(err as Error).message.split('\n')[0]}; page: ${(await page.locator('main').textContent().catch(() => ''))?.slice(0, 200)}`);
            }
          }
          if (conversation.length === 0) conversation.push(Number.NaN);
          ctx.log(`web-app: ${failed} of ${loads} conversation loads failed; conversation painted, median ${median(conversation).toFixed(0)} ms, p95 ${p95(conversation).toFixed(0)} ms`);
          const live = await measureLiveUpdates(page, app.url, db, registry, files[0] as string, liveImports);
          ctx.log(`web-app: live updates, summary written to row on screen: ${live.map((ms) => ms.toFixed(0)).join(', ')} ms`);
          const base = median(baseline);
          const rows: Measurement[] = [
            { name: 'web.login-form.painted.median', value: base, unit: 'ms', notes: `baseline: the app with no data, ${loads} loads` },
            { name: 'web.inflow.painted.median', value: median(inflow), unit: 'ms', notes: `${load.stored} messages processed; goal ≤ 300 ms; ${(median(inflow) / base).toFixed(2)} × baseline` },
            { name: 'web.inflow.painted.p95', value: p95(inflow), unit: 'ms' },
            { name: 'web.conversation.painted.median', value: median(conversation), unit: 'ms', notes: `goal ≤ 200 ms; ${(median(conversation) / base).toFixed(2)} × baseline` },
            { name: 'web.conversation.painted.p95', value: p95(conversation), unit: 'ms' },
            { name: 'web.live.summary-to-row.median', value: median(live), unit: 'ms', notes: `${live.length} imports while the list is open; goal ≤ 2,000 ms` },
            { name: 'web.live.summary-to-row.p95', value: p95(live), unit: 'ms' },
            { name: 'web.queue.processing', value: run.seconds, unit: 's', notes: `${load.stored} messages, ${run.report.written} documents${warming ? ', views warmed meanwhile' : ''}` },
            { name: warming ? 'web.views.ready-after-idle.warmed' : 'web.views.ready-after-idle.cold', value: viewSeconds, unit: 's', notes: `every view the app reads (${appViews.length}); ${warming ? 'warmed during the run as serve does' : 'RAINDROP_BENCH_WEB_WARM=0: the first build'}` },
          ];
          return rows;
        } finally {
          await browser.close();
          await app.close();
        }
      } finally {
        await registry?.close();
        await destroyDatabase(couch, name).catch(() => undefined);
        await corpus.remove();
      }
    },
  };
}
