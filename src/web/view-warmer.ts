/**
 * Keeps the web app's view indexes up to date while `raindrop serve` runs, so the user's
 * first page load after a big import does not pay for the index build (on the embedded
 * server the first build after ~3,000 messages took minutes). After the queue has
 * written something and then been quiet for a moment, each view the app reads is asked
 * with `limit=0`: the server brings the index up to date and returns no rows. One round
 * at a time; work that arrives during a round causes one more round after it. Never
 * while the queue is busy: on the embedded server an index build holds up the queue's
 * writes (measured: an 800-message import stalled for 2.5 minutes behind a round), and
 * "quiet for 2 s" also happens in the middle of a catch-up (a long cross-key batch). So a
 * warmer starts busy: rounds begin only once the queue says it is at the head of the feed
 * (`busy(false)`), and a batch that follows makes it busy again.
 */
import type { Logger } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import { fetchJson } from '../couch/fetch-json.js';

/** The views the web app queries (couchapp/API.md, "What each screen of the web app
 * asks"), busiest screen first. */
export const appViews: ReadonlyArray<readonly [ddoc: string, view: string]> = [
  ['rd_mail', 'inbox_by_grouping'],
  ['rd_mail', 'contacts_by_rank'],
  ['rd_browse', 'links_by_message'],
  ['rd_queue', 'errors_by_extension'],
  ['rd_mail', 'conversations_by_grouping'],
  ['rd_browse', 'conversations_by_identity'],
  ['rd_mail', 'messages_by_list'],
];

export const warmLimits = {
  /** Quiet time after the queue's last written batch before a round starts: during an
   * import the queue writes a batch every second or so, and a round in between would
   * compete with it for the server; one round after the burst does the work once. */
  quietMs: 2_000,
  /** A round this long (s) is logged at info level (an index build a user would have
   * waited for), shorter ones at debug. */
  reportAfterS: 1,
} as const;

export interface ViewWarmer {
  /** The queue wrote something: warm the views once it has been quiet for a moment. */
  poke(): void;
  /** The queue has work in hand (true) or is at the head of the feed (false): no round
   * starts while it is busy. A warmer starts busy. */
  busy(isBusy: boolean): void;
  /** Rounds finished so far. */
  readonly rounds: number;
  /** Stops: no new round; a request in flight is aborted. */
  close(): Promise<void>;
}

export function startViewWarmer(db: Db, logger: Logger, limits: { quietMs: number } = warmLimits): ViewWarmer {
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  let queueBusy = true;
  let running: Promise<void> | undefined;
  let closed = false;
  let rounds = 0;
  const abort = new AbortController();

  const schedule = () => {
    clearTimeout(timer);
    if (closed || running || !dirty || queueBusy) return;
    timer = setTimeout(() => void round(), limits.quietMs);
  };

  const round = async () => {
    if (closed || running || queueBusy) return;
    dirty = false;
    const started = performance.now();
    running = (async () => {
      for (const [ddoc, view] of appViews) {
        if (closed) return;
        try {
          await fetchJson(db.couch, { path: `${encodeURIComponent(db.name)}/_design/${ddoc}/_view/${view}`, qs: { limit: 0 }, signal: abort.signal });
        } catch (err) {
          // A build can outlast a request (the next round asks again); a missing design
          // document (an older database) is not this warmer's business.
          if (!closed) logger.debug(`warming ${ddoc}/${view}: ${(err as Error).message}`);
        }
      }
    })();
    try {
      await running;
    } finally {
      running = undefined;
    }
    if (closed) return;
    rounds++;
    const seconds = (performance.now() - started) / 1000;
    // A round after one new message takes milliseconds: worth a line only when an index
    // was really built.
    const line = `the web app's views are up to date (${seconds.toFixed(1)} s)`;
    if (seconds >= warmLimits.reportAfterS) logger.info(line);
    else logger.debug(line);
    schedule();
  };

  return {
    poke() {
      if (closed) return;
      dirty = true;
      schedule();
    },
    busy(isBusy: boolean) {
      queueBusy = isBusy;
      schedule();
    },
    get rounds() {
      return rounds;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      abort.abort();
      await running?.catch(() => undefined);
    },
  };
}
