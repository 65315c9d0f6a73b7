import { RaindropError, docIdFor, errorCodes, type JsonValue, type RdKey } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { bulkWrite } from '../couch/bulk-write.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { couchLimits } from '../couch/limits.js';
import { applyItem, itemsOf, removeItem } from '../couch/schema-items/merge.js';
import type { SchemaRegistry } from '../schema/registry.js';

type Fields = Record<string, JsonValue>;

/** One writer's change to one (key, schema) document, computed from what that writer
 * has stored there now: new fields, 'remove' (its contribution), or 'keep'. */
export interface ItemUpdate {
  key: RdKey;
  schemaId: string;
  writer: string;
  confidence?: number;
  /** Other writers' items this update is computed from (read with it; peek returns their
   * fields as they are after the earlier updates of the same round). A conflict on one
   * of them makes this update be computed again. */
  reads?: ReadonlyArray<{ key: RdKey; schemaId: string; writer: string }>;
  next(current: Fields | undefined, peek: Peek): Fields | 'remove' | 'keep';
}

export type Peek = (key: RdKey, schemaId: string, writer: string) => Fields | undefined;

/** Every document id an update depends on: its own and those it reads. */
export function idsOf(update: ItemUpdate): string[] {
  return [docIdFor(update.key, update.schemaId), ...(update.reads ?? []).map((r) => docIdFor(r.key, r.schemaId))];
}

type Pending = ItemUpdate & { id: string };

/** What one round of updates writes: the documents, and which updates each came from. */
export interface PlannedUpdates {
  docs: CouchDoc[];
  byDoc: Map<string, ItemUpdate[]>;
}

/**
 * The pure half of `updateItems`: given the stored documents (by id; absent = missing),
 * compute each writer's next fields, validate them all against the installed schemas
 * (throws on anything invalid, so nothing invalid is written) and build the documents
 * that change. Lets a caller write them in the same `_bulk_docs` as other documents.
 */
export async function planItemUpdates(registry: SchemaRegistry, stored: ReadonlyMap<string, CouchDoc>, updates: readonly ItemUpdate[]): Promise<PlannedUpdates> {
  const pending: Pending[] = updates.map((u) => ({ ...u, id: docIdFor(u.key, u.schemaId) }));
  // Per (doc, writer): the fields after every update of this round, applied in order.
  const finals = new Map<string, { update: Pending; fields: Fields | 'remove' | 'keep' }>();
  const currentOf = (id: string, writer: string): Fields | undefined => {
    const before = finals.get(`${id}\u0000${writer}`);
    const storedFields = () => itemsOf(stored.get(id)).get(writer)?.fields;
    return before ? (before.fields === 'remove' ? undefined : before.fields === 'keep' ? storedFields() : before.fields) : storedFields();
  };
  const peek: Peek = (key, schemaId, writer) => currentOf(docIdFor(key, schemaId), writer);
  for (const update of pending) {
    const slot = `${update.id}\u0000${update.writer}`;
    const before = finals.get(slot);
    const current = currentOf(update.id, update.writer);
    const next = update.next(current, peek);
    finals.set(slot, { update, fields: next === 'keep' && before ? before.fields : next });
  }
  const entries = [...finals.values()].filter((f) => f.fields !== 'keep');
  const toCheck = entries.filter((e) => e.fields !== 'remove');
  const checks = await registry.checkMany(toCheck.map((e) => ({ key: e.update.key, schemaId: e.update.schemaId, writer: e.update.writer, fields: e.fields as Fields })));
  const checked = new Map(toCheck.map((e, i) => [e, checks[i]]));
  const docs = new Map<string, CouchDoc>();
  for (const entry of entries) {
    const { update } = entry;
    const base = docs.get(update.id) ?? stored.get(update.id);
    if (entry.fields === 'remove') {
      if (!base) continue;
      const removed = removeItem(base, update.writer);
      if (removed.changed) docs.set(update.id, removed.doc);
    } else {
      const check = checked.get(entry);
      if (!check?.ok) throw new RaindropError(errorCodes.VALIDATION_FAILED, check?.message ?? `${update.schemaId} check failed`, { details: { schema: update.schemaId, writer: update.writer } });
      const merged = applyItem(base, { key: update.key, schemaId: update.schemaId, schemaVersion: check.version, writer: update.writer, category: 'provider', confidence: update.confidence ?? 1, source: null, fields: check.fields });
      if (merged.changed) docs.set(update.id, merged.doc);
    }
  }
  // A conflict on a document retries the updates of it and those that read it.
  const byDoc = new Map<string, ItemUpdate[]>();
  for (const update of updates) {
    for (const id of new Set(idsOf(update))) {
      const list = byDoc.get(id);
      if (list) list.push(update);
      else byDoc.set(id, [update]);
    }
  }
  return { docs: [...docs.values()], byDoc };
}

/**
 * Applies many item updates with one `_bulk_docs` round (plus one per conflict round):
 * read the documents, compute each writer's next fields, validate them all against the
 * installed schemas (nothing invalid is written), write what changed. A 409 re-reads
 * that document and computes its update again. Returns how many documents were written.
 */
export async function updateItems(registry: SchemaRegistry, db: Db, updates: readonly ItemUpdate[]): Promise<number> {
  let pending: readonly ItemUpdate[] = updates;
  let written = 0;
  for (let round = 0; pending.length > 0; round++) {
    if (round > couchLimits.conflictRetries) {
      const first = pending[0] as ItemUpdate;
      throw new RaindropError(errorCodes.COUCH_CONFLICT, `${pending.length} documents kept conflicting, e.g. ${docIdFor(first.key, first.schemaId)}; another process keeps rewriting them`);
    }
    const stored = await bulkGet(db, pending.flatMap(idsOf));
    const { docs, byDoc } = await planItemUpdates(registry, stored, pending);
    const results = await bulkWrite(db, docs);
    const retry = new Set<ItemUpdate>();
    results.forEach((r) => {
      if (r.ok) written++;
      else if (r.conflict) for (const u of byDoc.get(r.id) ?? []) retry.add(u);
      else throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${r.id} failed: ${r.error}: ${r.reason}`);
    });
    // Keep the original order (a location before the flags computed from it).
    pending = pending.filter((u) => retry.has(u));
  }
  return written;
}
