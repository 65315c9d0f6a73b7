import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { docIdFor, silentLogger } from '../src/core/index.js';
import { getDoc } from '../src/couch/bulk-get.js';
import type { Db } from '../src/couch/connect.js';
import { storeRawMessages } from '../src/protocols/store-raw.js';
import { QueueRunner } from '../src/queue/queue-runner.js';
import type { SchemaRegistry } from '../src/schema/registry.js';

/** How often the bench looks for the summary's write (its resolution). */
const summaryPollMs = 20;
const waitMs = 60_000;

/**
 * A copy of a real message as a new conversation arriving now: its own Message-ID, no
 * In-Reply-To/References, today's date, its own subject; everything else (the list's
 * headers, so the same grouping) as it was.
 */
function freshCopy(bytes: Buffer, id: string, subject: string): Buffer {
  const text = bytes.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = text.slice(0, end).replace(/^(?:message-id|in-reply-to|references|date|subject):.*(?:\r?\n[ \t].*)*(?:\r?\n|$)/gim, '');
  return Buffer.from(`Message-ID: <${id}>\nDate: ${new Date().toUTCString()}\nSubject: ${subject}\n${head}${text.slice(end)}`, 'latin1');
}

async function summaryWritten(db: Db, id: string): Promise<{ at: number; groupings: string[] }> {
  const summaryId = docIdFor(['conv', id], 'rd.conv.summary');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const doc = await getDoc(db, summaryId);
    if (doc) return { at: Date.now(), groupings: Object.keys((doc.groupings ?? {}) as object) };
    if (Date.now() > deadline) throw new Error(`no summary for ${id} after ${waitMs / 1000} s`);
    await new Promise((r) => setTimeout(r, summaryPollMs));
  }
}

/**
 * Live updates as a user sees them: the conversation list of a grouping is open, a new
 * message is stored (as an import stores it) while the queue follows the feed, and the
 * time from its conversation summary's write (seen by polling for it every 20 ms, so the
 * write happened up to ~20 ms earlier) to its row on screen (the page's clock, same
 * machine) is taken, `imports` times. The first import is not timed: it tells which
 * grouping the copies land in.
 */
export async function measureLiveUpdates(page: Page, appUrl: string, db: Db, registry: SchemaRegistry, template: string, imports: number): Promise<number[]> {
  const bytes = await readFile(template);
  const runner = await QueueRunner.start({ db, registry, logger: silentLogger });
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const watching = runner.watch(stopped);
  const run = randomBytes(4).toString('hex');
  const store = async (i: number) => {
    const id = `live-${run}-${i}@bench.raindrop.invalid`;
    await storeRawMessages(registry, db, [{ bytes: freshCopy(bytes, id, `Live update ${run} #${i}`), receivedFrom: 'import:eml' }]);
    return id;
  };
  try {
    const probe = await summaryWritten(db, await store(0));
    const grouping = probe.groupings[0];
    if (!grouping) throw new Error('the copied message landed in no grouping');
    await page.goto(`${appUrl}#/g/${encodeURIComponent(grouping)}`);
    await page.waitForSelector('ul.conversations li');
    const latencies: number[] = [];
    for (let i = 1; i <= imports; i++) {
      const id = `live-${run}-${i}@bench.raindrop.invalid`;
      // Armed before the write: a MutationObserver notes the page's clock when the row appears.
      const onScreen = page.evaluate((conv) => new Promise<number>((resolve) => {
        const g = globalThis as unknown as { document: { body: object; querySelector(s: string): unknown }; MutationObserver: new (f: () => void) => { observe(n: object, o: object): void; disconnect(): void } };
        const found = () => g.document.querySelector(`li[data-conv=${JSON.stringify(conv)}]`) !== null;
        if (found()) return resolve(Date.now());
        const observer = new g.MutationObserver(() => {
          if (!found()) return;
          observer.disconnect();
          resolve(Date.now());
        });
        observer.observe(g.document.body, { childList: true, subtree: true });
      }), id);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${id} not on screen after ${waitMs / 1000} s`)), waitMs)));
      await store(i);
      const written = await summaryWritten(db, id);
      const shown = await Promise.race([onScreen, timeout]).finally(() => clearTimeout(timer));
      latencies.push(shown - written.at);
      // A pause between arrivals, as mail comes: each is its own change on the feed.
      await new Promise((r) => setTimeout(r, 500));
    }
    return latencies;
  } finally {
    stop();
    await watching.catch(() => undefined);
    await runner.close();
  }
}
