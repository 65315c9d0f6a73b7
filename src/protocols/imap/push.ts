import type { ImapFlow } from 'imapflow';
import type { AccountSettings } from '../../config/index.js';
import { docIdFor, type JsonValue, type Logger, type RdKey } from '../../core/index.js';
import { bulkGet } from '../../couch/bulk-get.js';
import { callCouch, type Db } from '../../couch/connect.js';
import { itemsOf } from '../../couch/schema-items/merge.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { type ItemUpdate, updateItems } from '../write-items.js';
import { specialFolder } from './folders.js';
import { type Location, addLocation, flagSchemas, imapWriter, locationSchema, locationsOf, mirrorFlags, pushSchema, removeLocations, setLocationFlags, userConfidence, userWriter } from './items.js';

type Schema = (typeof flagSchemas)[keyof typeof flagSchemas];

interface PushEntry {
  account: string;
  schema: Schema;
  hash: string;
  value?: boolean;
  outcome: 'done' | 'failed' | 'not-on-server';
  message?: string;
  at: string;
}

interface Change {
  key: RdKey;
  messageId: string;
  schema: Schema;
  hash: string;
  value: boolean;
}

/**
 * Sends the user's changes (rd.msg.seen / flagged / archived / deleted written by the
 * writer 'user') to this account's server, once each: an rd.imap.push entry records the
 * content hash of the user's item that was sent and the outcome, and a change whose hash
 * is recorded is not sent again. Seen/flagged are STOREs in every folder holding the
 * message; archive and delete are MOVEs to the Archive / Trash folder. The server-side
 * mirror (writer rd.imap) and the locations are updated right away.
 */
export async function pushUserChanges(registry: SchemaRegistry, db: Db, client: ImapFlow, account: AccountSettings, logger: Logger): Promise<number> {
  const view = (await callCouch(db.couch, 'reading user changes', () => db.scope.view('rd_imap', 'user_changes', {}))) as unknown as { rows: Array<{ key: RdKey; value: [Schema, string, boolean] }> };
  if (view.rows.length === 0) return 0;
  const changes: Change[] = view.rows.map((r) => ({ key: r.key, messageId: String(r.key[1]), schema: r.value[0], hash: r.value[1], value: r.value[2] }));
  const keys = [...new Map(changes.map((c) => [c.messageId, c.key])).values()];
  const locDocs = await bulkGet(db, keys.map((k) => docIdFor(k, locationSchema)));
  const pushDocs = await bulkGet(db, keys.map((k) => docIdFor(k, pushSchema)));
  const done = (c: Change) => {
    const doc = pushDocs.get(docIdFor(c.key, pushSchema));
    const entries = (itemsOf(doc).get(imapWriter)?.fields.pushes ?? []) as unknown as PushEntry[];
    return entries.some((e) => e.account === account.name && e.schema === c.schema && e.hash === c.hash);
  };
  const todo = changes
    .filter((c) => !done(c))
    .map((c) => ({ change: c, locations: locationsOf(itemsOf(locDocs.get(docIdFor(c.key, locationSchema))).get(imapWriter)?.fields).filter((l) => l.account === account.name) }))
    .filter((t) => t.locations.length > 0);
  if (todo.length === 0) return 0;

  const archive = await specialFolder(client, '\\Archive', 'Archive');
  const trash = await specialFolder(client, '\\Trash', 'Trash');
  const records: Array<{ change: Change; entry: PushEntry }> = [];
  const updates: ItemUpdate[] = [];
  for (const { change, locations } of todo) {
    const at = new Date().toISOString();
    let outcome: PushEntry['outcome'] = 'done';
    let message: string | undefined;
    try {
      const field = change.schema === flagSchemas.seen ? 'seen' : change.schema === flagSchemas.flagged ? 'flagged' : change.schema === flagSchemas.deleted ? 'deleted' : undefined;
      for (const loc of locations) {
        const moved = await applyOne(client, change, loc, { archive, trash });
        const here = (l: Location) => l.account === loc.account && l.folder === loc.folder && l.uid === loc.uid;
        if (moved) {
          updates.push(removeLocations(change.messageId, here));
          if (moved.uid !== undefined) updates.push(addLocation(change.messageId, { account: account.name, folder: moved.folder, uid: moved.uid, uidvalidity: moved.uidvalidity }));
        } else if (field !== undefined) {
          // The server's mirror follows at once: this location's flag, then the mirrors.
          updates.push(setLocationFlags(change.messageId, here, { [field]: change.value }));
        }
      }
      updates.push(...mirrorFlags(change.messageId));
    } catch (err) {
      outcome = 'failed';
      message = (err as Error).message;
      logger.warn('sending a change to the server failed', { account: account.name, schema: change.schema, message: change.messageId, error: message });
    }
    records.push({ change, entry: { account: account.name, schema: change.schema, hash: change.hash, value: change.value, outcome, ...(message === undefined ? {} : { message }), at } });
  }
  for (const { change, entry } of records) {
    updates.push({
      key: change.key,
      schemaId: pushSchema,
      writer: imapWriter,
      next(current) {
        const list = ((current?.pushes ?? []) as unknown as PushEntry[]).filter((e) => !(e.account === entry.account && e.schema === entry.schema));
        return { pushes: [...list, entry] as unknown as JsonValue };
      },
    });
  }
  // Once every account holding the message has the change, the server mirror is the
  // truth again: the user's seen/flagged/deleted item goes, so a later change on the
  // server (read on the phone, unflagged elsewhere) shows instead of being hidden
  // forever by the user's older, higher-confidence item. Archived has no server mirror
  // and stays.
  for (const { change, entry } of records) {
    if (entry.outcome !== 'done' || change.schema === flagSchemas.archived) continue;
    const holders = new Set(locationsOf(itemsOf(locDocs.get(docIdFor(change.key, locationSchema))).get(imapWriter)?.fields).map((l) => l.account));
    const entries = (itemsOf(pushDocs.get(docIdFor(change.key, pushSchema))).get(imapWriter)?.fields.pushes ?? []) as unknown as PushEntry[];
    const doneBy = new Set([account.name, ...entries.filter((e) => e.schema === change.schema && e.hash === change.hash && e.outcome === 'done').map((e) => e.account)]);
    if (![...holders].every((a) => doneBy.has(a))) continue;
    const field = change.schema === flagSchemas.seen ? 'seen' : change.schema === flagSchemas.flagged ? 'flagged' : 'deleted';
    updates.push({ key: change.key, schemaId: change.schema, writer: userWriter, confidence: userConfidence, next: (current) => (current !== undefined && current[field] === change.value ? 'remove' : 'keep') });
  }
  await updateItems(registry, db, updates);
  return records.filter((r) => r.entry.outcome === 'done').length;
}

async function applyOne(client: ImapFlow, change: Change, loc: Location, folders: { archive: string | undefined; trash: string | undefined }): Promise<{ folder: string; uid: number | undefined; uidvalidity: string } | undefined> {
  const lock = await client.getMailboxLock(loc.folder, { description: 'raindrop push' });
  try {
    if (String(client.mailbox ? client.mailbox.uidValidity : '') !== loc.uidvalidity) throw new Error(`folder ${loc.folder} changed UIDVALIDITY; the next sync finds the message again`);
    const uid = String(loc.uid);
    const flag = (name: string, on: boolean) => (on ? client.messageFlagsAdd(uid, [name], { uid: true }) : client.messageFlagsRemove(uid, [name], { uid: true }));
    switch (change.schema) {
      case flagSchemas.seen:
        await flag('\\Seen', change.value);
        return undefined;
      case flagSchemas.flagged:
        await flag('\\Flagged', change.value);
        return undefined;
      case flagSchemas.archived:
      case flagSchemas.deleted: {
        const target = change.schema === flagSchemas.archived ? folders.archive : folders.trash;
        if (!change.value) {
          if (change.schema === flagSchemas.deleted) await flag('\\Deleted', false);
          return undefined;
        }
        if (target === undefined) {
          if (change.schema === flagSchemas.archived) throw new Error('the server has no Archive folder');
          await flag('\\Deleted', true);
          return undefined;
        }
        if (target === loc.folder) return undefined;
        const result = await client.messageMove(uid, target, { uid: true });
        if (!result) throw new Error(`the server refused to move the message to ${target}`);
        return { folder: target, uid: result.uidValidity === undefined ? undefined : result.uidMap?.get(loc.uid), uidvalidity: String(result.uidValidity ?? '0') };
      }
    }
  } finally {
    lock.release();
  }
}
