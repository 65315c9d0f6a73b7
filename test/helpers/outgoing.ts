import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import type { AccountSettings } from '../../src/config/index.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger, type JsonValue } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { Db } from '../../src/couch/connect.js';
import { itemsOf } from '../../src/couch/schema-items/merge.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import type { StateFields } from '../../src/protocols/smtp/items.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import type { Dovecot } from './dovecot.js';
import type { TestSmtp } from './smtp-server.js';

/** Design docs, built-in schemas, the mail extensions a sent message goes through and
 * rd.ext.outgoing, and an rd.account naming `me` as the user's identity. */
export async function prepareOutgoingDb(db: Db, me: string, extensions = ['email.js', 'thread.js', 'conversation.js', 'identities.js', 'grouping.js', 'outgoing.js']): Promise<SchemaRegistry> {
  await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(db, builtInSchemaDir());
  const registry = await SchemaRegistry.load(db);
  const dir = await mkdtemp(join(tmpdir(), 'raindrop-outgoing-ext-'));
  for (const file of extensions) await cp(join(projectRoot, 'extensions', file), join(dir, file));
  const report = await installExtensions(registry, db, [dir], silentLogger);
  if (report.refused.length > 0) throw new Error(`extensions refused: ${JSON.stringify(report.refused)}`);
  await writeValidatedItem(registry, db, { key: ['account', 'test'], schemaId: 'rd.account', writer: 'rd.cli', category: 'provider', source: null, fields: { name: 'test', protocol: 'imap', host: '127.0.0.1', username: 'ann', identities: [['email', me]] } });
  return registry;
}

export function testAccount(dovecot: Pick<Dovecot, 'host' | 'port' | 'user' | 'password'>, smtp: TestSmtp, me: string, overrides: Partial<NonNullable<AccountSettings['smtp']>> = {}): AccountSettings {
  return {
    name: 'test', protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password,
    passwordFile: undefined, passwordEnv: undefined, folders: [], excludeFolders: [], identities: [me],
    smtp: { host: smtp.host, port: smtp.port, tls: 'starttls', user: smtp.user, sharedCredentials: false, password: smtp.password, passwordFile: undefined, passwordEnv: undefined, caFile: smtp.caFile, saveSent: true, ...overrides },
  };
}

export interface OutgoingInput {
  to?: Array<{ name?: string; address: string }>;
  cc?: Array<{ name?: string; address: string }>;
  bcc?: Array<{ name?: string; address: string }>;
  from?: { name?: string; address: string };
  subject?: string;
  text?: string;
  html?: string;
  state?: 'draft' | 'send';
  in_reply_to?: ['email', string];
  forward_of?: ['email', string];
  send_request?: number;
  files?: Array<{ name: string; filename: string; contentType: string; data: Buffer }>;
}

/** Writes an rd.msg.outgoing as the web app or `raindrop send` does (writer `user`). */
export async function writeOutgoing(registry: SchemaRegistry, db: Db, messageId: string, me: string, input: OutgoingInput = {}) {
  const fields: Record<string, JsonValue> = {
    account: 'test',
    from: input.from ?? { address: me },
    to: input.to ?? [{ name: 'Bob', address: 'bob@example.net' }],
    subject: input.subject ?? `subject of ${messageId}`,
    text: input.text ?? `Hello from ${messageId}\n`,
    state: input.state ?? 'send',
    requested_at: '2026-11-02T10:00:00.000Z',
  };
  if (input.cc) fields.cc = input.cc;
  if (input.bcc) fields.bcc = input.bcc;
  if (input.html) fields.html = input.html;
  if (input.in_reply_to) fields.in_reply_to = input.in_reply_to;
  if (input.forward_of) fields.forward_of = input.forward_of;
  if (input.send_request) fields.send_request = input.send_request;
  const files = input.files ?? [];
  if (files.length > 0) fields.attachments = files.map((f) => ({ attachment: f.name, filename: f.filename, content_type: f.contentType }));
  return writeValidatedItem(registry, db, {
    key: ['email', messageId], schemaId: 'rd.msg.outgoing', writer: 'user', category: 'provider', confidence: 2, source: null, fields,
    ...(files.length > 0 ? { attachments: Object.fromEntries(files.map((f) => [f.name, { contentType: f.contentType, data: f.data }])) } : {}),
  });
}

export async function senderState(db: Db, messageId: string): Promise<StateFields | undefined> {
  const doc = await getDoc(db, docIdFor(['email', messageId], 'rd.msg.outgoing.state'));
  return itemsOf(doc).get('rd.smtp')?.fields as unknown as StateFields | undefined;
}
