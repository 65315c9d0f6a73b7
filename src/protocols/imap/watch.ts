import { onStop, sleepUnlessStopped } from '../../core/index.js';
import { connectAccount } from './connect.js';
import { imapLimits } from './limits.js';
import { type AccountSummary, type SyncOptions, backoffMs, syncAccount } from './sync-account.js';

export interface WatchOptions extends SyncOptions {
  stop: Promise<void>;
  /** After every sync pass (the first full one, then INBOX on new mail, all on poll). */
  onPass?: ((summary: AccountSummary) => void) | undefined;
  /** Poll interval for the other folders (default imapLimits.pollIntervalMs). */
  pollMs?: number | undefined;
}

/**
 * Keeps an account in step until `stop` resolves: a full sync, then IDLE on INBOX; new
 * mail there syncs INBOX at once, and every poll interval all folders are synced. Never
 * more than one connection at a time. Failures are retried with backoff, forever: watch
 * mode is meant to run for days (the status document shows the last error meanwhile).
 */
export async function watchAccount(opts: WatchOptions): Promise<void> {
  let stopped = false;
  void opts.stop.then(() => (stopped = true));
  let failures = 0;
  let only: string[] | undefined;
  let lastFull = 0;
  // UIDNEXT of each folder when its last pass selected it. Mail that came in after that
  // select and before IDLE began raises no EXISTS once IDLE runs (the count at the second
  // select already has it), so without this it would wait for the poll interval.
  const uidNextSynced = new Map<string, number>();
  const onFolderDone = (path: string, uidNext: number): void => {
    uidNextSynced.set(path, uidNext);
    opts.onFolderDone?.(path, uidNext);
  };
  while (!stopped) {
    const full = only === undefined;
    const summary = await syncAccount({ ...opts, folders: only ?? opts.folders, onFolderDone });
    opts.onPass?.(summary);
    if (full && summary.result === 'ok') lastFull = Date.now();
    if (summary.result === 'failed') {
      failures++;
      only = undefined;
      await sleepUnlessStopped(backoffMs(Math.min(failures, 10)), opts.stop, { keepAlive: true });
      continue;
    }
    failures = 0;
    if (stopped) break;
    // Wait on INBOX for new mail, the poll interval, a dropped connection or stop.
    const pollMs = opts.pollMs ?? imapLimits.pollIntervalMs;
    type WakeUp = 'exists' | 'poll' | 'closed' | 'stop';
    let event = 'poll' as WakeUp;
    let inbox = 'INBOX';
    try {
      const conn = await connectAccount(opts.account, opts.logger);
      try {
        const box = await conn.client.mailboxOpen('INBOX');
        inbox = box.path;
        const synced = uidNextSynced.get(inbox);
        event = synced !== undefined && box.uidNext > synced ? 'exists' : await new Promise<WakeUp>((resolve) => {
          const timer = setTimeout(() => finish('poll'), Math.max(0, lastFull + pollMs - Date.now()));
          function finish(why: WakeUp) {
            clearTimeout(timer);
            offStop();
            resolve(why);
          }
          conn.client.once('exists', () => finish('exists'));
          conn.client.once('close', () => finish('closed'));
          const offStop = onStop(opts.stop, () => finish('stop'));
          void conn.client.idle().catch(() => finish('closed'));
        });
      } finally {
        await conn.close();
      }
    } catch (err) {
      opts.logger.warn('watching INBOX failed; syncing again', { account: opts.account.name, error: (err as Error).message });
      event = 'closed';
      await sleepUnlessStopped(backoffMs(1), opts.stop, { keepAlive: true });
    }
    only = event === 'exists' ? [inbox] : undefined;
  }
}

