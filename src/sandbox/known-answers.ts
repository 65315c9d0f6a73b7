import { docIdFor, type RdKey } from '../core/index.js';
import type { ExtensionDeclaration, HostServices } from './types.js';

/**
 * Answers to host calls, worked out by the caller before a job runs and sent with it, so
 * they are answered in the sandbox: opens and identities by the isolate itself
 * (isolate-bootstrap.ts), attachments by the pool process. An `rd.open` from inside an
 * isolate otherwise crosses to the parent process and back (on openwrt-devel, ~0.5 ms
 * each and ~10 per message). Only what the caller's HostServices answers anyway, at the
 * moment the job is sent: the queue's batch state does not change while an extension
 * runs, so the answers are the ones the calls would get. Anything not known goes to the
 * parent as before.
 */
export interface KnownAnswers {
  /** `rd.open` answers by document id: the JSON text of the document, or `null`. */
  open: Record<string, string>;
  /** `rd.myIdentities()`'s JSON text. */
  identities?: string;
  /** `rd.attachment` answers by `attachmentKey`: bytes of the job's own documents that
   * the caller already held in memory. Never shared between jobs (they are the big part). */
  attachments?: Record<string, Uint8Array>;
}

/** The key of an attachment in `KnownAnswers.attachments`. */
export const attachmentKey = (id: string, name: string): string => JSON.stringify([id, name]);

/** The attachments of `docs` that `services` holds in memory, for the job of those
 * documents; undefined when there are none (or `services` cannot tell). */
export function knownAttachments(services: HostServices, docs: ReadonlyArray<Record<string, unknown> | undefined>): Record<string, Uint8Array> | undefined {
  if (!services.cachedAttachment) return undefined;
  let found: Record<string, Uint8Array> | undefined;
  for (const doc of docs) {
    const attachments = doc?._attachments;
    if (typeof doc?._id !== 'string' || attachments === null || typeof attachments !== 'object') continue;
    for (const name of Object.keys(attachments)) {
      const bytes = services.cachedAttachment(doc._id, name);
      if (bytes) (found ??= {})[attachmentKey(doc._id, name)] = bytes;
    }
  }
  return found;
}

/** The bytes of an `rd.attachment` call when the job carries them; else undefined. */
export function answerKnownAttachment(known: KnownAnswers | undefined, argsJson: string): Uint8Array | undefined {
  if (!known?.attachments) return undefined;
  try {
    const { id, name } = JSON.parse(argsJson) as { id?: unknown; name?: unknown };
    if (typeof id !== 'string' || typeof name !== 'string') return undefined;
    const key = attachmentKey(id, name);
    return Object.hasOwn(known.attachments, key) ? known.attachments[key] : undefined;
  } catch {
    return undefined;
  }
}

/** Asks `services` for what the job will (likely) ask: `preload` (only schemas the
 * extension may read) and, when `identities`, the user's identities. */
export async function knownAnswers(
  declaration: ExtensionDeclaration,
  services: HostServices,
  preload: ReadonlyArray<{ key: RdKey; schemaId: string }>,
  identities: boolean,
): Promise<KnownAnswers | undefined> {
  const allowed = preload.filter((r) => declaration.reads.includes(r.schemaId));
  if (allowed.length === 0 && !identities) return undefined;
  const open: Record<string, string> = {};
  const docs = allowed.length > 0 ? await services.open(allowed) : [];
  allowed.forEach((r, i) => (open[docIdFor(r.key, r.schemaId)] = JSON.stringify(docs[i] ?? null)));
  return { open, ...(identities ? { identities: JSON.stringify(await services.myIdentities()) } : {}) };
}

/** The size of the answers (characters of JSON text). */
export function knownBytes(known: KnownAnswers): number {
  let n = known.identities?.length ?? 0;
  for (const text of Object.values(known.open)) n += text.length;
  return n;
}

/** The part of `known` that `preload` asked at these keys (the documents of one job),
 * and the identities. */
export function knownAtKeys(known: KnownAnswers, preload: ReadonlyArray<{ key: RdKey; schemaId: string }>, keys: readonly unknown[]): KnownAnswers {
  const wanted = new Set(keys.map((k) => JSON.stringify(k ?? null)));
  const open: Record<string, string> = {};
  for (const r of preload) {
    if (!wanted.has(JSON.stringify(r.key))) continue;
    const id = docIdFor(r.key, r.schemaId);
    const text = Object.hasOwn(known.open, id) ? known.open[id] : undefined;
    if (text !== undefined) open[id] = text;
  }
  return { open, ...(known.identities !== undefined ? { identities: known.identities } : {}) };
}

/**
 * Reads what gathering documents asked of `rd.open` and was not known (their `needs`, by
 * document index), in one request to `services`, into each document's own answers for its
 * next run. Only what an open would be allowed: a request of a schema outside the
 * extension's `reads`, or with a key that makes no id, is left out; the document asks it
 * again in its last run, where the open goes to the host as usual and is refused there
 * with the usual message.
 */
export async function readNeeds(
  declaration: ExtensionDeclaration,
  services: HostServices,
  needs: ReadonlyMap<number, readonly unknown[]>,
  into: Map<number, Record<string, string>>,
): Promise<void> {
  const wanted = new Map<string, { key: RdKey; schemaId: string }>();
  const idsOf = new Map<number, string[]>();
  for (const [doc, requests] of needs) {
    const ids: string[] = [];
    for (const request of requests) {
      if (request === null || typeof request !== 'object') continue;
      const { key, schemaId } = request as { key?: unknown; schemaId?: unknown };
      if (typeof schemaId !== 'string' || !declaration.reads.includes(schemaId)) continue;
      let id: string;
      try {
        id = docIdFor(key as RdKey, schemaId);
      } catch {
        continue;
      }
      wanted.set(id, { key: key as RdKey, schemaId });
      ids.push(id);
    }
    idsOf.set(doc, ids);
  }
  const requests = [...wanted.entries()];
  const found = requests.length > 0 ? await services.open(requests.map(([, r]) => r)) : [];
  const texts = new Map(requests.map(([id], i) => [id, JSON.stringify(found[i] ?? null)]));
  for (const [doc, ids] of idsOf) {
    const answers = into.get(doc) ?? {};
    for (const id of ids) answers[id] = texts.get(id) as string;
    into.set(doc, answers);
  }
}
