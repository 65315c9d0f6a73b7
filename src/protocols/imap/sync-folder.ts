import type { FetchMessageObject, ImapFlow } from 'imapflow';
import type { AccountSettings } from '../../config/index.js';
import { docIdFor, type JsonValue, type Logger, type RdKey } from '../../core/index.js';
import { getDoc } from '../../couch/bulk-get.js';
import type { Db } from '../../couch/connect.js';
import { topLevelFields } from '../../couch/schema-items/merge.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { writeValidatedItem } from '../../schema/validated-write.js';
import { storeRawMessages } from '../store-raw.js';
import { type ItemUpdate, updateItems } from '../write-items.js';
import type { FolderInfo } from './folders.js';
import { addLocation, folderStateSchema, imapWriter, mirrorFlags, removeLocations } from './items.js';
import { imapLimits } from './limits.js';

export interface SyncCounts {
  fetched: number;
  stored: number;
  duplicates: number;
  refused: number;
  bytes: number;
  flagUpdates: number;
  expunged: number;
}

export const emptyCounts = (): SyncCounts => ({ fetched: 0, stored: 0, duplicates: 0, refused: 0, bytes: 0, flagUpdates: 0, expunged: 0 });

export interface FolderProgress {
  folder: string;
  /** Messages of this folder to fetch in this pass, and done so far. */
  total: number;
  done: number;
  bytes: number;
}

export interface FolderSyncOptions {
  registry: SchemaRegistry;
  db: Db;
  client: ImapFlow;
  account: AccountSettings;
  logger: Logger;
  /** Only messages whose INTERNALDATE is at most this many ms old. */
  maxAgeMs?: number | undefined;
  onProgress?: ((p: FolderProgress) => void) | undefined;
  /** Test hook: called after each batch is fully stored (raw, items, state). */
  afterBatch?: (() => Promise<void> | void) | undefined;
}

interface FolderState {
  account: string;
  path: string;
  special_use?: string;
  uidvalidity: string;
  uidnext: number;
  highestmodseq?: string;
  uids: Record<string, string>;
  last_sync?: string;
}

export function folderStateKey(account: string, path: string): RdKey {
  return ['folder', [account, path]];
}

async function readState(db: Db, account: string, path: string): Promise<FolderState | undefined> {
  const doc = await getDoc(db, docIdFor(folderStateKey(account, path), folderStateSchema));
  return doc ? (topLevelFields(doc) as unknown as FolderState) : undefined;
}

async function writeState(opts: FolderSyncOptions, state: FolderState): Promise<void> {
  await writeValidatedItem(opts.registry, opts.db, {
    key: folderStateKey(state.account, state.path),
    schemaId: folderStateSchema,
    writer: imapWriter,
    category: 'provider',
    source: null,
    fields: state as unknown as Record<string, JsonValue>,
  });
}

/**
 * imapflow ends a FETCH on a closed connection like an empty result (and SEARCH returns
 * false): taken at face value that reads as "the messages are gone" and a folder state
 * would skip them forever. Every server answer is therefore followed by this check.
 */
function ensureAlive(client: ImapFlow): void {
  if (!client.usable) throw Object.assign(new Error('the connection to the server was lost'), { code: 'NoConnection' });
}

/** Splits UIDs (newest first) into batches bounded by count and bytes. */
function batches(candidates: Array<{ uid: number; size: number }>): number[][] {
  const out: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  for (const c of candidates) {
    if (current.length > 0 && (current.length >= imapLimits.batchMessages || bytes + c.size > imapLimits.batchBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(c.uid);
    bytes += c.size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Brings one folder in step with the server, on a connection that is logged in:
 *
 * 1. UIDVALIDITY changed: the folder's old locations go and it starts again from nothing
 *    (raw items are keyed by Message-ID, so nothing is stored twice).
 * 2. New messages (UID >= the stored UIDNEXT, not yet known), newest first, in batches:
 *    BODY.PEEK[] (never sets \Seen), raw items first, then locations and flags, then the
 *    folder state with the UIDs of the batch. A crash re-fetches at most one batch.
 * 3. Flags of known messages: with CONDSTORE only those changed since the stored
 *    HIGHESTMODSEQ (nothing at all when it did not move); otherwise every message's FLAGS.
 * 4. Expunges: when the server's count differs from the known UIDs, one UID SEARCH tells
 *    which are gone; their locations are removed (the raw items stay).
 * 5. The state: UIDNEXT and HIGHESTMODSEQ as they were when the folder was selected, so
 *    anything that changed meanwhile is seen next time.
 */
export async function syncFolder(opts: FolderSyncOptions, folder: FolderInfo, counts: SyncCounts): Promise<void> {
  const { client, account, registry, db } = opts;
  const lock = await client.getMailboxLock(folder.path, { description: 'raindrop sync' });
  try {
    const mailbox = client.mailbox;
    if (!mailbox) throw new Error(`folder ${folder.path} could not be selected`);
    const uidvalidity = String(mailbox.uidValidity);
    const uidNextAtSelect = mailbox.uidNext;
    const modseqAtSelect = mailbox.highestModseq === undefined || mailbox.noModseq ? undefined : String(mailbox.highestModseq);
    const condstore = modseqAtSelect !== undefined && (client.enabled.has('CONDSTORE') || client.enabled.has('QRESYNC') || client.capabilities.has('CONDSTORE'));
    let state = await readState(db, account.name, folder.path);

    if (state && state.uidvalidity !== uidvalidity) {
      opts.logger.warn('UIDVALIDITY changed: the folder is fetched again (no duplicates are stored)', { account: account.name, folder: folder.path });
      const old = state;
      const updates = Object.entries(old.uids)
        .filter(([, id]) => id !== '')
        .map(([uid, id]) => removeLocations(id, (l) => l.account === account.name && l.folder === folder.path && l.uid === Number(uid) && l.uidvalidity === old.uidvalidity));
      await updateItems(registry, db, updates);
      state = undefined;
    }
    const base: FolderState = state ?? { account: account.name, path: folder.path, uidvalidity, uidnext: 0, uids: {} };
    if (folder.specialUse !== undefined) base.special_use = folder.specialUse;
    const uids = { ...base.uids };
    const knownBefore = new Set(Object.keys(uids).map(Number));
    const location = (uid: number) => ({ account: account.name, folder: folder.path, uid, uidvalidity });

    // 2. New messages.
    const from = Math.max(1, base.uidnext);
    const candidates: Array<{ uid: number; size: number }> = [];
    if (mailbox.exists > 0 && uidNextAtSelect > from) {
      const cutoff = opts.maxAgeMs === undefined ? undefined : Date.now() - opts.maxAgeMs;
      for await (const m of client.fetch(`${from}:*`, { uid: true, size: true, ...(cutoff === undefined ? {} : { internalDate: true }) }, { uid: true })) {
        if (m.uid < from || knownBefore.has(m.uid)) continue;
        if (cutoff !== undefined && m.internalDate !== undefined && new Date(m.internalDate).getTime() < cutoff) continue;
        candidates.push({ uid: m.uid, size: m.size ?? 0 });
      }
      ensureAlive(client);
      candidates.sort((a, b) => b.uid - a.uid);
    }
    const progress: FolderProgress = { folder: folder.path, total: candidates.length, done: 0, bytes: 0 };
    opts.onProgress?.(progress);
    for (const batch of batches(candidates)) {
      const fetched: FetchMessageObject[] = [];
      for await (const m of client.fetch(batch.join(','), { uid: true, flags: true, source: true }, { uid: true })) {
        if (m.source) fetched.push(m);
      }
      ensureAlive(client);
      fetched.sort((a, b) => b.uid - a.uid);
      const results = await storeRawMessages(registry, db, fetched.map((m) => ({ bytes: m.source as Buffer, receivedFrom: `imap:${account.name}` })));
      const updates: ItemUpdate[] = [];
      fetched.forEach((m, i) => {
        const r = results[i];
        counts.fetched++;
        counts.bytes += m.source?.byteLength ?? 0;
        progress.bytes += m.source?.byteLength ?? 0;
        if (!r || r.outcome === 'refused') {
          counts.refused++;
          uids[String(m.uid)] = '';
          opts.logger.warn('a message on the server is not mail and was not stored', { account: account.name, folder: folder.path, uid: m.uid, reason: r?.outcome === 'refused' ? r.reason : 'no result' });
          return;
        }
        if (r.outcome === 'stored') counts.stored++;
        else counts.duplicates++;
        const id = String(r.key[1]);
        uids[String(m.uid)] = id;
        updates.push(addLocation(id, location(m.uid)), ...mirrorFlags(id, m.flags ?? new Set()));
      });
      await updateItems(registry, db, updates);
      await writeState(opts, { ...base, uids, last_sync: new Date().toISOString() });
      progress.done += batch.length;
      opts.onProgress?.(progress);
      await opts.afterBatch?.();
    }

    // 3. Flags of messages known before this pass.
    if (knownBefore.size > 0) {
      const since = condstore && base.highestmodseq !== undefined ? BigInt(base.highestmodseq) : undefined;
      if (since === undefined || (modseqAtSelect !== undefined && BigInt(modseqAtSelect) > since)) {
        const updates: ItemUpdate[] = [];
        for await (const m of client.fetch('1:*', { uid: true, flags: true }, { uid: true, ...(since === undefined ? {} : { changedSince: since }) })) {
          const id = uids[String(m.uid)];
          if (!knownBefore.has(m.uid) || id === undefined || id === '') continue;
          updates.push(...mirrorFlags(id, m.flags ?? new Set()));
        }
        ensureAlive(client);
        counts.flagUpdates += await updateItems(registry, db, updates);
      }
    }

    // 4. Expunged messages.
    const exists = client.mailbox ? client.mailbox.exists : mailbox.exists;
    if (Object.keys(uids).length !== exists) {
      const found = await client.search({ all: true }, { uid: true });
      ensureAlive(client);
      if (!Array.isArray(found)) throw Object.assign(new Error(`UID SEARCH ALL failed in ${folder.path}`), { code: 'NoConnection' });
      const present = new Set(found);
      const gone = Object.keys(uids).map(Number).filter((uid) => !present.has(uid));
      const updates: ItemUpdate[] = [];
      for (const uid of gone) {
        const id = uids[String(uid)];
        delete uids[String(uid)];
        if (id) updates.push(removeLocations(id, (l) => l.account === account.name && l.folder === folder.path && l.uid === uid));
      }
      await updateItems(registry, db, updates);
      counts.expunged += gone.length;
    }

    // 5. The folder is complete up to what the server had when it was selected (a pass
    // limited by --max-age is not complete: older mail may still be missing).
    const complete = opts.maxAgeMs === undefined;
    const next: FolderState = { ...base, uids, last_sync: new Date().toISOString() };
    if (complete) {
      next.uidnext = uidNextAtSelect;
      if (modseqAtSelect !== undefined) next.highestmodseq = modseqAtSelect;
      else delete next.highestmodseq;
    }
    await writeState(opts, next);
  } finally {
    lock.release();
  }
}
