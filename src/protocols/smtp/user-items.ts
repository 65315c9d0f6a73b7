import { RaindropError, docIdFor, errorCodes, type JsonValue } from '../../core/index.js';
import { getDoc } from '../../couch/bulk-get.js';
import type { Db } from '../../couch/connect.js';
import { readAttachment } from '../../couch/read-attachment.js';
import { itemsOf } from '../../couch/schema-items/merge.js';
import type { AttachmentInput } from '../../couch/schema-items/model.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { writeValidatedItem } from '../../schema/validated-write.js';
import { type OutboxState, type OutgoingFields, type StateFields, outboxState, outgoingConfidence, outgoingSchema, outgoingWriter, senderWriter, stateSchema } from './items.js';

/**
 * The user's side of outgoing mail, as the CLI writes it (the web app writes the same
 * documents over CouchDB's API): a new message, and changes of its state (send again,
 * back to draft). The item is always written whole with its attachments (a writer's
 * attachments are its complete set), so a change re-sends the bytes it read.
 */
export async function writeOutgoingItem(registry: SchemaRegistry, db: Db, messageId: string, fields: OutgoingFields, attachments: Record<string, AttachmentInput> = {}): Promise<void> {
  await writeValidatedItem(registry, db, {
    key: ['email', messageId],
    schemaId: outgoingSchema,
    writer: outgoingWriter,
    category: 'provider',
    confidence: outgoingConfidence,
    source: null,
    fields: fields as unknown as Record<string, JsonValue>,
    ...(Object.keys(attachments).length > 0 ? { attachments } : {}),
  });
}

export interface OutgoingNow {
  fields: OutgoingFields;
  state: StateFields | undefined;
  shown: OutboxState;
}

export async function readOutgoing(db: Db, messageId: string): Promise<OutgoingNow> {
  const key = ['email', messageId] as const;
  const doc = await getDoc(db, docIdFor(key, outgoingSchema));
  const fields = itemsOf(doc).get(outgoingWriter)?.fields as unknown as OutgoingFields | undefined;
  if (!doc || !fields) throw new RaindropError(errorCodes.USAGE, `no outgoing message ${messageId}; "raindrop outbox" lists them`);
  const state = itemsOf(await getDoc(db, docIdFor(key, stateSchema))).get(senderWriter)?.fields as unknown as StateFields | undefined;
  return { fields, state, shown: outboxState(fields, state) };
}

/** Rewrites the user's item with `change` applied, keeping its attachments. */
export async function changeOutgoing(registry: SchemaRegistry, db: Db, messageId: string, change: (fields: OutgoingFields) => OutgoingFields): Promise<void> {
  const id = docIdFor(['email', messageId], outgoingSchema);
  const doc = await getDoc(db, id);
  const fields = itemsOf(doc).get(outgoingWriter)?.fields as unknown as OutgoingFields | undefined;
  if (!doc || !fields) throw new RaindropError(errorCodes.USAGE, `no outgoing message ${messageId}; "raindrop outbox" lists them`);
  const attachments: Record<string, AttachmentInput> = {};
  const prefix = `${outgoingWriter}/`;
  for (const [name, stub] of Object.entries(doc._attachments ?? {})) {
    if (!name.startsWith(prefix)) continue;
    const data = await readAttachment(db, id, name);
    if (data) attachments[name.slice(prefix.length)] = { contentType: stub.content_type, data };
  }
  await writeOutgoingItem(registry, db, messageId, change(fields), attachments);
}
