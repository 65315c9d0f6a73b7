/**
 * IMAP sync against Dovecot: the same message in two folders (one raw item, a location
 * and flags per folder, mirrors computed from all of them), a folder renamed and then
 * deleted on the server, and a 25 MB message.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AccountSettings } from '../../src/config/index.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { syncAccount } from '../../src/protocols/imap/sync-account.js';
import { messageKey } from '../../src/protocols/message-key.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { type Corpus, messageFiles, openCorpus } from '../helpers/corpus.js';
import { type Dovecot, startDovecot, withImapClient } from '../helpers/dovecot.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('imap_folders');
let dovecot: Dovecot;
let corpus: Corpus;
let registry: SchemaRegistry;
let messages: Buffer[] = [];

const account = (): AccountSettings => ({
  name: 'f', protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password,
  passwordFile: undefined, passwordEnv: undefined, folders: [], excludeFolders: [], identities: [],
});
const sync = () => syncAccount({ registry, db: t.db, account: account(), logger: silentLogger });

const imap = <T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> => withImapClient(dovecot, fn);

const idOf = (bytes: Buffer): string => {
  const k = messageKey(bytes);
  if (!k.ok) throw new Error(k.reason);
  return String(k.key[1]);
};
const doc = (bytes: Buffer, schema: string) => getDoc(t.db, docIdFor(['email', idOf(bytes)], schema));
const folders = async (bytes: Buffer) => (((await doc(bytes, 'rd.msg.location'))?.locations ?? []) as Array<{ folder: string; seen?: boolean; flagged?: boolean }>);

beforeAll(async () => {
  dovecot = await startDovecot();
  corpus = await openCorpus(inject('corpusDir'));
  const files = await messageFiles(await corpus.unpack('openwrt-devel'));
  messages = await Promise.all(files.slice(0, 150).map((f) => readFile(f)));
  // Messages 0-9 are in both folders: read (0-4) in INBOX, flagged (all) in Lists.
  await dovecot.deliver('INBOX', messages.slice(0, 100), (i) => (i < 5 ? 'S' : ''));
  await dovecot.deliver('Lists', [...messages.slice(100, 150), ...messages.slice(0, 10)], (i) => (i >= 50 ? 'F' : ''));
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(t.db, builtInSchemaDir());
  registry = await SchemaRegistry.load(t.db);
}, 120_000);

afterAll(async () => {
  await registry?.close();
  await dovecot?.close();
  await corpus?.remove();
});

describe('IMAP folders against Dovecot', () => {
  it('the same message in two folders: one raw item, a location with flags per folder', async () => {
    const summary = await sync();
    expect(summary).toMatchObject({ result: 'ok', fetched: 160, stored: 150, duplicates: 10 });
    for (let i = 0; i < 10; i++) {
      const m = messages[i] as Buffer;
      expect((await folders(m)).map((l) => [l.folder, l.seen, l.flagged])).toEqual([['INBOX', i < 5, false], ['Lists', false, true]]);
      // Seen or flagged in any folder; the order the folders were synced does not matter.
      expect((await doc(m, 'rd.msg.seen'))?.seen, `message ${i}`).toBe(i < 5);
      expect((await doc(m, 'rd.msg.flagged'))?.flagged, `message ${i}`).toBe(true);
    }
    expect((await doc(messages[20] as Buffer, 'rd.msg.flagged'))).toBeUndefined();
  });

  it('a folder renamed on the server: its messages move to the new name, nothing is stored twice', async () => {
    await imap((c) => c.mailboxRename('Lists', 'Lists2'));
    const summary = await sync();
    expect(summary).toMatchObject({ result: 'ok', fetched: 60, stored: 0, foldersRemoved: ['Lists'] });
    expect(summary.folders).toContain('Lists2');
    expect((await folders(messages[120] as Buffer)).map((l) => l.folder)).toEqual(['Lists2']);
    expect((await folders(messages[3] as Buffer)).map((l) => l.folder)).toEqual(['INBOX', 'Lists2']);
    expect(await getDoc(t.db, docIdFor(['folder', ['f', 'Lists']], 'rd.imap.folder-state'))).toBeUndefined();
    expect((await sync()).fetched).toBe(0);
  });

  it('a folder deleted on the server: its locations and flags go, the raw messages stay', async () => {
    await imap((c) => c.mailboxDelete('Lists2'));
    const summary = await sync();
    expect(summary).toMatchObject({ result: 'ok', fetched: 0, foldersRemoved: ['Lists2'] });
    expect(await doc(messages[120] as Buffer, 'rd.msg.location')).toBeUndefined();
    expect(await doc(messages[120] as Buffer, 'rd.msg.rfc822')).toBeDefined();
    // Only INBOX holds message 3 now, where it is not flagged: the mirror follows.
    expect((await folders(messages[3] as Buffer)).map((l) => l.folder)).toEqual(['INBOX']);
    expect((await doc(messages[3] as Buffer, 'rd.msg.flagged'))?.flagged).toBe(false);
    expect((await doc(messages[3] as Buffer, 'rd.msg.seen'))?.seen).toBe(true);
  });

  it('a 25 MB message is stored whole, byte for byte', async () => {
    const attachment = randomBytes(19 * 1024 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
    const big = Buffer.from(
      `From: ann@example.org\r\nTo: bob@example.org\r\nSubject: big\r\nMessage-ID: <big-25mb@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--b--\r\n`,
    );
    expect(big.byteLength).toBeGreaterThan(25 * 1024 * 1024);
    await imap((c) => c.append('INBOX', big));
    const summary = await sync();
    expect(summary).toMatchObject({ result: 'ok', fetched: 1, stored: 1 });
    const raw = await doc(big, 'rd.msg.rfc822');
    expect(raw?.size).toBe(big.byteLength);
    const bytes = (await t.db.scope.attachment.get(docIdFor(['email', 'big-25mb@example.org'], 'rd.msg.rfc822'), 'rd.fetch/rfc822')) as Buffer;
    expect(bytes.byteLength).toBe(big.byteLength);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
  }, 120_000);
});
