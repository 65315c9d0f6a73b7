/**
 * Ownership of a data directory. LevelDB allows one process per database, so exactly one
 * process runs the embedded server for a data directory and records itself in
 * `<dataDir>/server.json`; every other process uses the URL found there.
 *
 * The record is created with O_EXCL, so two processes starting together cannot both win.
 * A record whose process is gone (crash, kill -9, reboot) is stale and is replaced.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDataDir, writeFileAtomic } from './admin-credentials.js';
import {
  LIVE_PROBE_TIMEOUT_MS,
  RECORD_POLL_MS,
  RECORD_UNPARSABLE_GRACE_MS,
  RECORD_URL_WAIT_MS,
} from './limits.js';

export const SERVER_RECORD_FILE = 'server.json';

export type ServerOwner = 'serve' | 'command';

export interface ServerRecord {
  pid: number;
  /** The server's URL without credentials; absent while the owner is still starting. */
  url?: string;
  port?: number;
  owner: ServerOwner;
  /** ISO time of acquisition; with `pid` it identifies one ownership. */
  startedAt: string;
  /** Linux boot id: a record from an earlier boot is stale even if its pid is reused. */
  bootId?: string;
}

/** Proof of ownership, needed to update or release the record. */
export interface ServerRecordHandle {
  readonly dataDir: string;
  readonly path: string;
  record: ServerRecord;
}

export type AcquireResult =
  | { acquired: true; handle: ServerRecordHandle }
  | { acquired: false; record: ServerRecord };

export interface AcquireOptions {
  /** How long to wait for a starting owner to publish its URL (default RECORD_URL_WAIT_MS). */
  urlWaitMs?: number;
}

/**
 * Records held by this process. A record carrying our own pid is live only if it is one
 * of these: otherwise it was left by an earlier process that had the same pid (pid 1 in a
 * restarted container, for instance).
 */
const heldHere = new Set<string>();

export function serverRecordPath(dataDir: string): string {
  return join(resolve(dataDir), SERVER_RECORD_FILE);
}

/**
 * Makes this process the owner of `dataDir`, or reports the live owner. When the owner is
 * still starting (no URL yet), waits for its URL so the caller can use it.
 */
export async function acquireServerRecord(
  dataDir: string,
  owner: ServerOwner,
  options: AcquireOptions = {},
): Promise<AcquireResult> {
  await ensureDataDir(dataDir);
  const path = serverRecordPath(dataDir);
  const deadline = Date.now() + (options.urlWaitMs ?? RECORD_URL_WAIT_MS);
  const bootId = currentBootId();
  const record: ServerRecord = {
    pid: process.pid,
    owner,
    startedAt: new Date().toISOString(),
    ...(bootId === undefined ? {} : { bootId }),
  };

  for (;;) {
    if (await createExclusive(path, record)) {
      heldHere.add(heldKey(path, record));
      return { acquired: true, handle: { dataDir: resolve(dataDir), path, record } };
    }
    const existing = await readRecordText(path);
    if (existing === undefined) continue; // removed meanwhile: try again
    const parsed = parseRecord(existing.text);
    if (parsed === undefined) {
      if (existing.ageMs > RECORD_UNPARSABLE_GRACE_MS) await removeStale(path, existing.text);
      else await sleep(RECORD_POLL_MS);
      continue;
    }
    if (!isOwnerAlive(parsed, path)) {
      await removeStale(path, existing.text);
      continue;
    }
    if (parsed.url !== undefined || Date.now() >= deadline) return { acquired: false, record: parsed };
    await sleep(RECORD_POLL_MS);
  }
}

/** Publishes the URL and port once the server answers. */
export async function updateServerRecord(
  handle: ServerRecordHandle,
  update: { url: string; port: number },
): Promise<void> {
  const next: ServerRecord = { ...handle.record, url: update.url, port: update.port };
  await writeFileAtomic(handle.path, `${JSON.stringify(next, null, 2)}\n`);
  handle.record = next;
}

/** Removes the record if it is still ours; a record someone else took over is left alone. */
export async function releaseServerRecord(handle: ServerRecordHandle): Promise<void> {
  heldHere.delete(heldKey(handle.path, handle.record));
  const current = await readServerRecordAt(handle.path);
  if (current && current.pid === handle.record.pid && current.startedAt === handle.record.startedAt) {
    await rm(handle.path, { force: true });
  }
}

/** The record as stored, live or not; undefined when absent or unreadable. */
export async function readServerRecord(dataDir: string): Promise<ServerRecord | undefined> {
  return readServerRecordAt(serverRecordPath(dataDir));
}

/**
 * The record of a server that is running now: its process is alive and its URL answers
 * `GET /` like a CouchDB. Undefined otherwise (no record, stale, or still starting).
 */
export async function readLiveServerRecord(
  dataDir: string,
): Promise<(ServerRecord & { url: string; port: number }) | undefined> {
  const path = serverRecordPath(dataDir);
  const record = await readServerRecordAt(path);
  if (!record || record.url === undefined || record.port === undefined) return undefined;
  if (!isOwnerAlive(record, path)) return undefined;
  if (!(await answersWelcome(record.url))) return undefined;
  return { ...record, url: record.url, port: record.port };
}

function isOwnerAlive(record: ServerRecord, path: string): boolean {
  if (record.pid === process.pid) return heldHere.has(heldKey(path, record));
  const bootId = currentBootId();
  if (record.bootId !== undefined && bootId !== undefined && record.bootId !== bootId) return false;
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user; it still holds the data.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function answersWelcome(url: string): Promise<boolean> {
  try {
    const response = await fetch(new URL('/', url), { signal: AbortSignal.timeout(LIVE_PROBE_TIMEOUT_MS) });
    const body = (await response.json()) as { couchdb?: unknown };
    return response.ok && body.couchdb === 'Welcome';
  } catch {
    return false;
  }
}

async function createExclusive(path: string, record: ServerRecord): Promise<boolean> {
  let file;
  try {
    file = await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await file.writeFile(`${JSON.stringify(record, null, 2)}\n`);
    await file.close();
  } catch (error) {
    // An empty record would block the data directory until judged stale.
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
  return true;
}

/**
 * Moves a stale record aside before deleting it, then checks that what was moved is the
 * stale record that was read: two processes may both judge the same record stale, and the
 * slower one must not delete the record the faster one has just created.
 */
async function removeStale(path: string, staleText: string): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const moved = await readFile(aside, 'utf8').catch(() => staleText);
    if (moved !== staleText) {
      // Someone else's fresh record: put it back, unless yet another one appeared.
      await link(aside, path).catch(() => undefined);
    }
  } finally {
    await rm(aside, { force: true });
  }
}

async function readRecordText(path: string): Promise<{ text: string; ageMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, ageMs: Date.now() - info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readServerRecordAt(path: string): Promise<ServerRecord | undefined> {
  try {
    return parseRecord(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function parseRecord(text: string): ServerRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, url, port, owner, startedAt, bootId } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
  if (owner !== 'serve' && owner !== 'command') return undefined;
  if (typeof startedAt !== 'string') return undefined;
  return {
    pid,
    owner,
    startedAt,
    ...(typeof url === 'string' ? { url } : {}),
    ...(typeof port === 'number' ? { port } : {}),
    ...(typeof bootId === 'string' ? { bootId } : {}),
  };
}

function heldKey(path: string, record: ServerRecord): string {
  return `${path}\n${record.pid}\n${record.startedAt}`;
}

let bootIdCache: string | null | undefined;

/** Linux only; elsewhere liveness rests on the pid alone. */
function currentBootId(): string | undefined {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache ?? undefined;
}
