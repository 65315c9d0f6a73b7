import type { FetchMessageObject, ImapFlow } from 'imapflow';
import type { AccountSettings } from '../../config/index.js';
import { RaindropError, docIdFor, errorCodes, type JsonValue, type Logger, type RdKey } from '../../core/index.js';
import { bulkGet, getDoc } from '../../couch/bulk-get.js';
import type { Db } from '../../couch/connect.js';
import { topLevelFields } from '../../couch/schema-items/merge.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { storeRawWithItems } from '../store-raw.js';
import { type ItemUpdate, updateItems } from '../write-items.js';
import type { FolderInfo } from './folders.js';
import { addLocation, folderStateSchema, folderUidsSchema, imapWriter, mirrorFlags, removeLocations, serverFlags, setLocationFlags } from './items.js';
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
  /** Test hook: called after each batch is stored (raw items with their locations and
   * flags; the batch's folder state goes with the next write). */
  afterBatch?: (() => Promise<void> | void) | undefined;
  /** True once the caller wants to stop: the pass ends after the current batch (its state
   * written, the folder not marked complete) with an ABORTED error. */
  stopped?: (() => boolean) | undefined;
  /** Called when the folder's pass has ended, with the UIDNEXT the folder had when it was
   * selected: mail with a UID from there on came in during or after the pass. */
  onFolderDone?: ((path: string, uidNextAtSelect: number) => void) | undefined;
}

interface FolderState {
  account: string;
  path: string;
  special_use?: string;
  uidvalidity: string;
  uidnext: number;
  highestmodseq?: string;
  uid_chunks?: number;
  /** Legacy: the whole map in this document (first version); moved to chunks. */
  uids?: Record<string, string>;
  last_sync?: string;
}

export function folderStateKey(account: string, path: string): RdKey {
  return ['folder', [account, path]];
}

export function folderUidsKey(account: string, path: string, uidvalidity: string, chunk: number): RdKey {
  return ['folder', [account, path, uidvalidity, chunk]];
}

/**
 * The UID -> message map of one folder, in memory, as stored in rd.imap.folder-uids
 * chunks. New UIDs go to the last chunk until it holds imapLimits.uidChunkSize, then a
 * new one starts; each batch rewrites one or two small chunks, never the whole map.
 */
class UidMap {
  readonly ids = new Map<number, string>();
  private readonly chunkOf = new Map<number, number>();
  private readonly sizes: number[] = [];
  /** Changes not yet written, per chunk: UID -> id (added) or undefined (removed). */
  private dirty = new Map<number, Map<number, string | undefined>>();

  constructor(private readonly account: string, private readonly path: string, readonly uidvalidity: string) {}

  get chunks(): number {
    return this.sizes.length;
  }

  load(chunk: number, uids: Record<string, string>): void {
    while (this.sizes.length <= chunk) this.sizes.push(0);
    for (const [uid, id] of Object.entries(uids)) {
      const n = Number(uid);
      if (this.ids.has(n)) continue;
      this.ids.set(n, id);
      this.chunkOf.set(n, chunk);
      this.sizes[chunk] = (this.sizes[chunk] ?? 0) + 1;
    }
  }

  add(uid: number, id: string): void {
    if (this.ids.has(uid)) {
      this.ids.set(uid, id);
      this.mark(this.chunkOf.get(uid) as number, uid, id);
      return;
    }
    let chunk = this.sizes.length - 1;
    if (chunk < 0 || (this.sizes[chunk] ?? 0) >= imapLimits.uidChunkSize) {
      this.sizes.push(0);
      chunk = this.sizes.length - 1;
    }
    this.sizes[chunk] = (this.sizes[chunk] ?? 0) + 1;
    this.ids.set(uid, id);
    this.chunkOf.set(uid, chunk);
    this.mark(chunk, uid, id);
  }

  remove(uid: number): void {
    const chunk = this.chunkOf.get(uid);
    if (chunk === undefined) return;
    this.ids.delete(uid);
    this.chunkOf.delete(uid);
    this.mark(chunk, uid, undefined);
  }

  private mark(chunk: number, uid: number, id: string | undefined): void {
    let d = this.dirty.get(chunk);
    if (!d) this.dirty.set(chunk, (d = new Map()));
    d.set(uid, id);
  }

  /** Updates writing the pending changes (merged into what is stored, so a concurrent
   * writer's UIDs are kept), and forgets them. */
  takeUpdates(): ItemUpdate[] {
    const out: ItemUpdate[] = [];
    for (const [chunk, changes] of this.dirty) {
      out.push({
        key: folderUidsKey(this.account, this.path, this.uidvalidity, chunk),
        schemaId: folderUidsSchema,
        writer: imapWriter,
        next: (current) => {
          const uids: Record<string, JsonValue> = { ...((current?.uids ?? {}) as Record<string, JsonValue>) };
          for (const [uid, id] of changes) {
            if (id === undefined) delete uids[String(uid)];
            else uids[String(uid)] = id;
          }
          return { account: this.account, path: this.path, uidvalidity: this.uidvalidity, chunk, uids };
        },
      });
    }
    this.dirty = new Map();
    return out;
  }
}

async function readState(db: Db, account: string, path: string): Promise<FolderState | undefined> {
  const doc = await getDoc(db, docIdFor(folderStateKey(account, path), folderStateSchema));
  return doc ? (topLevelFields(doc) as unknown as FolderState) : undefined;
}

async function readUids(db: Db, state: FolderState): Promise<UidMap> {
  const map = new UidMap(state.account, state.path, state.uidvalidity);
  const n = state.uid_chunks ?? 0;
  const ids = Array.from({ length: n }, (_, i) => docIdFor(folderUidsKey(state.account, state.path, state.uidvalidity, i), folderUidsSchema));
  const docs = await bulkGet(db, ids);
  ids.forEach((id, i) => map.load(i, (docs.get(id)?.uids ?? {}) as Record<string, string>));
  // The first version kept the whole map in the state document: move it to chunks.
  for (const [uid, id] of Object.entries(state.uids ?? {})) if (!map.ids.has(Number(uid))) map.add(Number(uid), id);
  return map;
}

/** The folder state document: small (no UIDs), so rewriting it after every batch is cheap. */
function stateUpdate(state: FolderState): ItemUpdate {
  const { uids: _legacy, ...fields } = state;
  return { key: folderStateKey(state.account, state.path), schemaId: folderStateSchema, writer: imapWriter, next: () => fields as unknown as Record<string, JsonValue> };
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
 * A folder that is no longer synced (renamed or deleted on the server, or excluded): its
 * locations go (the flag mirrors follow what is left), then its UID chunks and its
 * state. The raw messages stay. Returns how many locations were removed.
 */
export async function forgetFolder(registry: SchemaRegistry, db: Db, account: string, path: string): Promise<number> {
  const state = await readState(db, account, path);
  if (!state) return 0;
  const map = await readUids(db, state);
  const locations: ItemUpdate[] = [];
  const mirrors: ItemUpdate[] = [];
  for (const [uid, id] of map.ids) {
    if (id === '') continue;
    locations.push(removeLocations(id, (l) => l.account === account && l.folder === path && l.uid === uid));
    mirrors.push(...mirrorFlags(id));
  }
  await updateItems(registry, db, locations);
  await updateItems(registry, db, mirrors);
  const gone: ItemUpdate[] = Array.from({ length: state.uid_chunks ?? 0 }, (_, i) => ({ key: folderUidsKey(account, path, state.uidvalidity, i), schemaId: folderUidsSchema, writer: imapWriter, next: () => 'remove' as const }));
  gone.push({ key: folderStateKey(account, path), schemaId: folderStateSchema, writer: imapWriter, next: () => 'remove' });
  await updateItems(registry, db, gone);
  return locations.length;
}

/** A FETCH of one batch's bodies, collected; the promise never rejects unobserved. */
function fetchBodies(client: ImapFlow, batch: number[]): Promise<FetchMessageObject[]> {
  const p = (async () => {
    const fetched: FetchMessageObject[] = [];
    for await (const m of client.fetch(batch.join(','), { uid: true, flags: true, source: true }, { uid: true })) {
      if (m.source) fetched.push(m);
    }
    ensureAlive(client);
    fetched.sort((a, b) => b.uid - a.uid);
    return fetched;
  })();
  p.catch(() => undefined);
  return p;
}

/**
 * Brings one folder in step with the server, on a connection that is logged in:
 *
 * 1. UIDVALIDITY changed: the folder's old locations go and it starts again from nothing
 *    (raw items are keyed by Message-ID, so nothing is stored twice).
 * 2. New messages (UID >= the stored UIDNEXT, not yet known), newest first, in batches:
 *    BODY.PEEK[] (never sets \Seen). Each batch is one `_bulk_docs`: its raw items, their
 *    locations and flags, and the folder state (UID chunk) of the previous batch, whose
 *    raw items are already written. The next batch is fetched while one is written. A
 *    crash re-fetches at most two batches and never loses a message.
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
      const oldMap = await readUids(db, old);
      const updates: ItemUpdate[] = [...oldMap.ids.entries()]
        .filter(([, id]) => id !== '')
        .map(([uid, id]) => removeLocations(id, (l) => l.account === account.name && l.folder === folder.path && l.uid === uid && l.uidvalidity === old.uidvalidity));
      for (let i = 0; i < (old.uid_chunks ?? 0); i++) updates.push({ key: folderUidsKey(account.name, folder.path, old.uidvalidity, i), schemaId: folderUidsSchema, writer: imapWriter, next: () => 'remove' });
      await updateItems(registry, db, updates);
      state = undefined;
    }
    const base: FolderState = state ?? { account: account.name, path: folder.path, uidvalidity, uidnext: 0 };
    delete base.uids;
    if (folder.specialUse !== undefined) base.special_use = folder.specialUse;
    const uids = state ? await readUids(db, state) : new UidMap(account.name, folder.path, uidvalidity);
    const knownBefore = new Set(uids.ids.keys());
    const location = (uid: number) => ({ account: account.name, folder: folder.path, uid, uidvalidity });
    /** The state to write after what has been written so far (UID chunks, then the small
     * state document with the chunk count). */
    const stateUpdates = (): ItemUpdate[] => [...uids.takeUpdates(), stateUpdate({ ...base, uid_chunks: uids.chunks, last_sync: new Date().toISOString() })];

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
    const todo = batches(candidates);
    // The state of batches whose raw items are written but whose state is not yet.
    let pendingState: ItemUpdate[] = [];
    let readFirst = true;
    try {
      let next = todo.length > 0 ? fetchBodies(client, todo[0] as number[]) : undefined;
      for (let b = 0; b < todo.length; b++) {
        const fetched = await (next as Promise<FetchMessageObject[]>);
        // The next batch comes over the network while this one is written.
        next = b + 1 < todo.length ? fetchBodies(client, todo[b + 1] as number[]) : undefined;
        const stored = await storeRawWithItems(
          registry, db,
          fetched.map((m) => ({ bytes: m.source as Buffer, receivedFrom: `imap:${account.name}` })),
          (keys) => fetched.flatMap((m, i) => {
            const k = keys[i];
            return k ? [addLocation(String(k.key[1]), location(m.uid), serverFlags(m.flags ?? new Set())), ...mirrorFlags(String(k.key[1]))] : [];
          }),
          { extra: pendingState, readFirst },
        );
        // Read which raw items exist first only while duplicates are seen: new mail is
        // then written without any read (a 409 tells the rare duplicate).
        readFirst = stored.duplicates > 0;
        pendingState = [];
        fetched.forEach((m, i) => {
          const r = stored.results[i];
          counts.fetched++;
          counts.bytes += m.source?.byteLength ?? 0;
          progress.bytes += m.source?.byteLength ?? 0;
          if (!r || r.outcome === 'refused') {
            counts.refused++;
            uids.add(m.uid, '');
            opts.logger.warn('a message on the server is not mail and was not stored', { account: account.name, folder: folder.path, uid: m.uid, reason: r?.outcome === 'refused' ? r.reason : 'no result' });
            return;
          }
          if (r.outcome === 'stored') counts.stored++;
          else counts.duplicates++;
          uids.add(m.uid, String(r.key[1]));
        });
        pendingState = stateUpdates();
        progress.done += (todo[b] as number[]).length;
        opts.onProgress?.(progress);
        await opts.afterBatch?.();
        if (opts.stopped?.() === true && b + 1 < todo.length) throw new RaindropError(errorCodes.ABORTED, `sync of ${account.name} stopped in ${folder.path}; the next sync continues there`);
      }
    } finally {
      // Raw items written, their state not yet (the last batch, or a fetch that failed):
      // write it now so a resumed sync does not fetch them again.
      if (pendingState.length > 0) await updateItems(registry, db, pendingState).catch((err: unknown) => opts.logger.warn('writing the folder state failed; the last batch will be fetched again', { folder: folder.path, error: (err as Error).message }));
    }

    // 3. Flags of messages known before this pass.
    if (knownBefore.size > 0) {
      const since = condstore && base.highestmodseq !== undefined ? BigInt(base.highestmodseq) : undefined;
      if (since === undefined || (modseqAtSelect !== undefined && BigInt(modseqAtSelect) > since)) {
        const updates: ItemUpdate[] = [];
        const mirrors: ItemUpdate[] = [];
        for await (const m of client.fetch('1:*', { uid: true, flags: true }, { uid: true, ...(since === undefined ? {} : { changedSince: since }) })) {
          const id = uids.ids.get(m.uid);
          if (!knownBefore.has(m.uid) || id === undefined || id === '') continue;
          updates.push(setLocationFlags(id, (l) => l.account === account.name && l.folder === folder.path && l.uid === m.uid, serverFlags(m.flags ?? new Set())));
          mirrors.push(...mirrorFlags(id));
        }
        ensureAlive(client);
        // The flags of each location, then the mirrors computed from all locations.
        await updateItems(registry, db, updates);
        counts.flagUpdates += await updateItems(registry, db, mirrors);
      }
    }

    // 4. Expunged messages.
    const updates: ItemUpdate[] = [];
    const exists = client.mailbox ? client.mailbox.exists : mailbox.exists;
    if (uids.ids.size !== exists) {
      const found = await client.search({ all: true }, { uid: true });
      ensureAlive(client);
      if (!Array.isArray(found)) throw Object.assign(new Error(`UID SEARCH ALL failed in ${folder.path}`), { code: 'NoConnection' });
      const present = new Set(found);
      const gone = [...uids.ids.keys()].filter((uid) => !present.has(uid));
      for (const uid of gone) {
        const id = uids.ids.get(uid);
        uids.remove(uid);
        if (id) updates.push(removeLocations(id, (l) => l.account === account.name && l.folder === folder.path && l.uid === uid), ...mirrorFlags(id));
      }
      counts.expunged += gone.length;
    }

    // 5. The folder is complete up to what the server had when it was selected (a pass
    // limited by --max-age is not complete: older mail may still be missing). Locations
    // of expunged messages go first, then the state that forgets their UIDs.
    await updateItems(registry, db, updates);
    const complete = opts.maxAgeMs === undefined;
    if (complete) {
      base.uidnext = uidNextAtSelect;
      if (modseqAtSelect !== undefined) base.highestmodseq = modseqAtSelect;
      else delete base.highestmodseq;
    }
    await updateItems(registry, db, stateUpdates());
    opts.onFolderDone?.(folder.path, uidNextAtSelect);
  } finally {
    lock.release();
  }
}
