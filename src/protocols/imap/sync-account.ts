import type { AccountSettings } from '../../config/index.js';
import { RaindropError, docIdFor, errorCodes, isRaindropError, type JsonValue, type Logger, type RdKey } from '../../core/index.js';
import { getDoc } from '../../couch/bulk-get.js';
import type { Db } from '../../couch/connect.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { updateItems } from '../write-items.js';
import { type Connection, connectAccount } from './connect.js';
import { type FailureReason, isConnectionLoss, mailError } from './errors.js';
import { discoverFolders } from './folders.js';
import { foldersSchema, imapWriter, syncStatusSchema } from './items.js';
import { imapLimits } from './limits.js';
import { pushUserChanges } from './push.js';
import { type FolderProgress, type SyncCounts, emptyCounts, forgetFolder, syncFolder } from './sync-folder.js';

export interface SyncOptions {
  registry: SchemaRegistry;
  db: Db;
  account: AccountSettings;
  logger: Logger;
  /** Only these folders (overrides the account's include/exclude lists). */
  folders?: readonly string[] | undefined;
  maxAgeMs?: number | undefined;
  onFolders?: ((folders: string[]) => void) | undefined;
  onProgress?: ((p: FolderProgress) => void) | undefined;
  /** Test hook, see FolderSyncOptions. */
  afterBatch?: (() => Promise<void> | void) | undefined;
  /** See FolderSyncOptions. */
  onFolderDone?: ((path: string, uidNextAtSelect: number) => void) | undefined;
  /** Resolves when the caller wants to stop (between batches of a reconnect wait). */
  stop?: Promise<void> | undefined;
}

export interface AccountSummary extends SyncCounts {
  account: string;
  result: 'ok' | 'failed';
  folders: string[];
  pushed: number;
  /** Folders forgotten because they are gone from the server (renamed, deleted). */
  foldersRemoved: string[];
  reconnects: number;
  seconds: number;
  error?: { code: string; reason: FailureReason | 'other'; message: string };
}

const sleep = (ms: number, stop?: Promise<void>) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void stop?.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Backoff before reconnect attempt n (1-based): doubling from the first pause, capped. */
export function backoffMs(attempt: number): number {
  return Math.min(imapLimits.reconnectMaxMs, imapLimits.reconnectFirstMs * 2 ** (attempt - 1));
}

async function writeStatus(opts: SyncOptions, fields: Record<string, JsonValue>): Promise<void> {
  await updateItems(opts.registry, opts.db, [
    {
      key: ['account', opts.account.name],
      schemaId: syncStatusSchema,
      writer: imapWriter,
      next: (current) => {
        const lastSuccess = fields.result === 'ok' ? fields.finished_at : current?.last_success_at;
        return { ...fields, ...(typeof lastSuccess === 'string' ? { last_success_at: lastSuccess } : {}) };
      },
    },
  ]);
}

/**
 * Records the folders this account syncs (rd.imap.folders). After a full discovery, the
 * folders recorded before and not found now (renamed or deleted on the server, or no
 * longer included) are forgotten: locations, flags, state. With --folder the list only
 * grows. Returns the forgotten folders.
 */
async function recordFolders(opts: SyncOptions, folders: string[], full: boolean): Promise<string[]> {
  const key = ['account', opts.account.name] as RdKey;
  const doc = await getDoc(opts.db, docIdFor(key, foldersSchema));
  const before = Array.isArray(doc?.folders) ? (doc.folders as string[]) : [];
  const vanished = full ? before.filter((f) => !folders.includes(f)) : [];
  for (const path of vanished) {
    const removed = await forgetFolder(opts.registry, opts.db, opts.account.name, path);
    opts.logger.info(`folder ${path} is gone from ${opts.account.name}; ${removed} locations removed (the messages stay)`, { account: opts.account.name, folder: path });
  }
  const next = full ? folders : [...new Set([...before, ...folders])];
  await updateItems(opts.registry, opts.db, [{ key, schemaId: foldersSchema, writer: imapWriter, next: () => ({ account: opts.account.name, folders: next }) }]);
  return vanished;
}

/**
 * One sync of one account: send the user's pending changes, then every folder in turn on
 * one connection. A dropped connection is re-opened with backoff and the sync resumes at
 * the folder it was in (the folder state makes that cheap: finished batches are not
 * fetched again). Login refusals and configuration errors are not retried. The account's
 * rd.core.sync-status says how it went.
 */
export async function syncAccount(opts: SyncOptions, existing?: Connection): Promise<AccountSummary> {
  const started = new Date();
  const counts = emptyCounts();
  const summary: AccountSummary = { account: opts.account.name, result: 'ok', folders: [], foldersRemoved: [], pushed: 0, reconnects: 0, seconds: 0, ...counts };
  await writeStatus(opts, { account: opts.account.name, result: 'running', started_at: started.toISOString() });
  let folders: string[] | undefined;
  const finished = new Set<string>();
  let failures = 0;
  let connectedOnce = existing !== undefined;
  let stopped = false;
  void opts.stop?.then(() => (stopped = true));
  try {
    for (;;) {
      let conn = existing;
      existing = undefined;
      try {
        conn ??= await connectAccount(opts.account, opts.logger);
        connectedOnce = true;
        const client = conn.client;
        if (folders === undefined) {
          summary.pushed += await pushUserChanges(opts.registry, opts.db, client, opts.account, opts.logger);
          const found = await discoverFolders(client, opts.account, opts.folders);
          if (opts.folders && opts.folders.length > 0) {
            const missing = opts.folders.filter((f) => !found.some((x) => x.path === f || (f.toUpperCase() === 'INBOX' && x.path === 'INBOX')));
            if (missing.length > 0) throw new RaindropError(errorCodes.MAIL_PROTOCOL, `account "${opts.account.name}" has no folder ${missing.map((m) => `"${m}"`).join(', ')}`, { details: { reason: 'protocol' } });
          }
          folders = found.map((f) => f.path);
          summary.folders = folders;
          summary.foldersRemoved = await recordFolders(opts, folders, !(opts.folders && opts.folders.length > 0));
          opts.onFolders?.(folders);
        }
        const all = await discoverFolders(client, { folders: folders, excludeFolders: [] });
        for (const folder of all) {
          if (finished.has(folder.path)) continue;
          if (stopped) throw new RaindropError(errorCodes.ABORTED, `sync of ${opts.account.name} stopped before ${folder.path}; the next sync continues there`);
          await syncFolder({ registry: opts.registry, db: opts.db, client, account: opts.account, logger: opts.logger, maxAgeMs: opts.maxAgeMs, onProgress: opts.onProgress, afterBatch: opts.afterBatch, onFolderDone: opts.onFolderDone, stopped: () => stopped }, folder, counts);
          finished.add(folder.path);
          failures = 0;
        }
        await conn.close();
        break;
      } catch (err) {
        await conn?.close();
        const error = isRaindropError(err) ? err : mailError(err, `syncing ${opts.account.name}`, conn ? [conn.secret] : []);
        // A server that cannot be reached at all fails fast; one that dropped us mid-sync
        // (restart, network blip) is retried with backoff.
        if (stopped || !connectedOnce || !isConnectionLoss(err) || ++failures > imapLimits.reconnectAttempts) throw error;
        summary.reconnects++;
        const pause = backoffMs(failures);
        opts.logger.warn(`connection to ${opts.account.host} lost; reconnecting in ${pause} ms`, { account: opts.account.name, attempt: failures, error: error.message });
        await sleep(pause, opts.stop);
      }
    }
    Object.assign(summary, counts);
    summary.seconds = (Date.now() - started.getTime()) / 1000;
    await writeStatus(opts, { account: opts.account.name, result: 'ok', started_at: started.toISOString(), finished_at: new Date().toISOString(), folders: summary.folders.length, fetched: counts.fetched, stored: counts.stored, duplicates: counts.duplicates, refused: counts.refused, bytes: counts.bytes, flag_updates: counts.flagUpdates, expunged: counts.expunged, pushed: summary.pushed });
    return summary;
  } catch (err) {
    const error = isRaindropError(err) ? err : new RaindropError(errorCodes.MAIL_PROTOCOL, (err as Error).message);
    const reason = ((error.details?.reason as FailureReason | undefined) ?? 'other');
    Object.assign(summary, counts);
    summary.result = 'failed';
    summary.seconds = (Date.now() - started.getTime()) / 1000;
    summary.error = { code: error.code, reason, message: error.message };
    await writeStatus(opts, { account: opts.account.name, result: 'failed', started_at: started.toISOString(), finished_at: new Date().toISOString(), error: summary.error, folders: summary.folders.length, fetched: counts.fetched, stored: counts.stored, duplicates: counts.duplicates, refused: counts.refused, bytes: counts.bytes });
    return summary;
  }
}
