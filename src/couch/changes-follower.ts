import { silentLogger, type Logger } from '../core/index.js';
import type { Db } from './connect.js';
import { statusOf, toCouchError } from './couch-error.js';
import type { CouchDoc } from './documents.js';
import { fetchJson } from './fetch-json.js';
import { couchLimits } from './limits.js';

/**
 * A position in the changes feed. Opaque: CouchDB 2+ uses strings, the embedded server
 * integers. It is only ever stored and handed back as `since`; never compared, never
 * incremented.
 */
export type Seq = string | number;

export interface ChangeRow {
  id: string;
  seq: Seq;
  deleted: boolean;
  revs: string[];
  doc?: CouchDoc;
}

export interface ChangesBatch {
  rows: ChangeRow[];
  /** Where to resume after this batch: pass it as `since` next time. */
  lastSeq: Seq;
  /** The server said nothing more was waiting after this batch (its `pending` count was
   * 0, or the batch was not full when the server gives no count). */
  atHead: boolean;
}

export interface FollowOptions {
  /** Resume point; omit (or 0) for the beginning, 'now' for only future changes. */
  since?: Seq | 'now';
  includeDocs?: boolean;
  batchSize?: number;
  /** 'head': stop once the feed has nothing more; 'forever': wait for new changes. */
  until: 'head' | 'forever';
  /** Awaited before the next request, so a slow consumer slows the reader. If it throws,
   * the follower stops and `done` rejects with that error. */
  onBatch: (batch: ChangesBatch) => Promise<void> | void;
  logger?: Logger;
  /** Test seam for the backoff; the defaults come from couchLimits. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  longpollTimeoutMs?: number;
}

export interface ChangesFollower {
  /** Settles when the follower stops: at the head ('head'), on stop(), or on a fatal error. */
  readonly done: Promise<{ lastSeq: Seq | undefined }>;
  /** The resume point after the last batch handed to onBatch. */
  readonly lastSeq: Seq | undefined;
  /** How many times the follower had to reconnect. */
  readonly reconnects: number;
  /** Stops the follower, aborting a pending request; resolves when it has stopped. */
  stop(): Promise<void>;
}

interface ChangesResponse {
  results: Array<{ id: string; seq: Seq; deleted?: boolean; changes: Array<{ rev: string }>; doc?: CouchDoc }>;
  last_seq: Seq;
  pending?: number;
}

/**
 * Follows `_changes` of one database. Network failures and server errors (5xx) are
 * retried with exponential backoff, resuming from the last delivered batch, so a server
 * restart costs nothing but time; authentication failures and a deleted database stop
 * the follower with an error because retrying cannot fix them.
 */
export function followChanges(db: Db, options: FollowOptions): ChangesFollower {
  const log = options.logger ?? silentLogger;
  const batchSize = options.batchSize ?? couchLimits.changesBatchSize;
  const initialDelay = options.reconnectInitialMs ?? couchLimits.reconnectInitialMs;
  const maxDelay = options.reconnectMaxMs ?? couchLimits.reconnectMaxMs;
  const longpollTimeout = options.longpollTimeoutMs ?? couchLimits.changesLongpollTimeoutMs;
  let since: Seq | 'now' | undefined = options.since;
  let lastSeq: Seq | undefined = options.since === 'now' ? undefined : options.since;
  let stopped = false;
  let reconnects = 0;
  let inFlight: AbortController | undefined;
  let wakeSleep: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const fetchBatch = async (): Promise<ChangesResponse> => {
    const controller = new AbortController();
    inFlight = controller;
    const qs: Record<string, string | number | boolean> = {
      limit: batchSize,
      include_docs: options.includeDocs ?? false,
      ...(since === undefined ? {} : { since }),
      ...(options.until === 'forever'
        ? { feed: 'longpoll', timeout: longpollTimeout, heartbeat: couchLimits.changesHeartbeatMs }
        : {}),
    };
    try {
      const body = (await fetchJson(db.couch, { path: `${encodeURIComponent(db.name)}/_changes`, qs, signal: controller.signal })) as ChangesResponse;
      if (!Array.isArray(body.results)) throw new Error('the changes feed answered without a results list');
      return body;
    } finally {
      inFlight = undefined;
    }
  };

  const run = async (): Promise<{ lastSeq: Seq | undefined }> => {
    let delay = initialDelay;
    while (!stopped) {
      let response: ChangesResponse;
      try {
        response = await fetchBatch();
      } catch (err) {
        if (stopped) break;
        const status = statusOf(err);
        const error = toCouchError(err, `following changes of "${db.name}"`, db.couch.url, db.couch.secrets);
        if (status !== undefined && status < 500 && status !== 408 && status !== 429) throw error;
        reconnects++;
        log.warn('changes feed interrupted; reconnecting', { db: db.name, inMs: delay, error: error.message });
        await sleep(delay);
        delay = Math.min(delay * 2, maxDelay);
        continue;
      }
      delay = initialDelay;
      if (stopped) break;
      const rows: ChangeRow[] = response.results.map((r) => ({
        id: r.id,
        seq: r.seq,
        deleted: r.deleted === true,
        revs: r.changes.map((c) => c.rev),
        ...(r.doc ? { doc: r.doc } : {}),
      }));
      if (rows.length > 0) {
        const atHead = response.pending === undefined ? rows.length < batchSize : response.pending === 0;
        await options.onBatch({ rows, lastSeq: response.last_seq, atHead });
      }
      // Resume from what the server said, even for an empty longpoll answer: with
      // since=now the first answer is where "now" was.
      since = response.last_seq;
      lastSeq = response.last_seq;
      if (options.until === 'head' && (rows.length === 0 || response.pending === 0)) break;
    }
    return { lastSeq };
  };

  const done = run();
  // The caller may never await `done` (stop() is enough); keep a rejection from becoming
  // an unhandled one while still delivering it to whoever awaits.
  done.catch(() => undefined);

  return {
    done,
    get lastSeq() {
      return lastSeq;
    },
    get reconnects() {
      return reconnects;
    },
    async stop() {
      stopped = true;
      inFlight?.abort();
      wakeSleep?.();
      // A failure is reported through `done`; stop() itself only waits.
      await done.catch(() => undefined);
    },
  };
}
