import type { ImapFlow } from 'imapflow';
import type { AccountSettings } from '../../config/index.js';
import { docIdFor, type JsonValue, type Logger, type RdKey } from '../../core/index.js';
import { bulkGet } from '../../couch/bulk-get.js';
import { callCouch, type Db } from '../../couch/connect.js';
import { itemsOf } from '../../couch/schema-items/merge.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { type ItemUpdate, updateItems } from '../write-items.js';
import { specialFolder } from './folders.js';
import { type Location, addLocation, flagSchemas, imapWriter, locationSchema, locationsOf, pushSchema, removeLocations } from './items.js';

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
      for (const loc of locations) {
        const moved = await applyOne(client, change, loc, { archive, trash });
        if (moved) {
          updates.push(removeLocations(change.messageId, (l) => l.account === loc.account && l.folder === loc.folder && l.uid === loc.uid));
          if (moved.uid !== undefined) updates.push(addLocation(change.messageId, { account: account.name, folder: moved.folder, uid: moved.uid, uidvalidity: moved.uidvalidity }));
        }
      }
      if (change.schema === flagSchemas.seen || change.schema === flagSchemas.flagged || (change.schema === flagSchemas.deleted && !trash)) {
        const field = change.schema === flagSchemas.seen ? 'seen' : change.schema === flagSchemas.flagged ? 'flagged' : 'deleted';
        updates.push({ key: change.key, schemaId: change.schema, writer: imapWriter, next: () => ({ [field]: change.value }) });
      }
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
