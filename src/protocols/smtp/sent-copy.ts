import type { AccountSettings } from '../../config/index.js';
import type { Logger } from '../../core/index.js';
import type { Db } from '../../couch/connect.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { connectAccount } from '../imap/connect.js';
import { mailError } from '../imap/errors.js';
import { specialFolder } from '../imap/folders.js';
import { storeRawWithItems } from '../store-raw.js';
import type { StateFields } from './items.js';

/**
 * After a message is sent: its exact bytes become an ordinary raw message of Raindrop
 * (rd.msg.rfc822 under its own Message-ID, so the queue threads it into its conversation
 * and the `sent` grouping, and the next sync of the Sent folder finds a duplicate, not a
 * new message), then they are appended to the account's Sent folder over IMAP, unless
 * the server files sent mail itself (`saveSent: false`). An append interrupted by a crash
 * is not repeated blindly: the folder is searched for the Message-ID first.
 */
export async function storeSentCopy(registry: SchemaRegistry, db: Db, account: AccountSettings | undefined, bytes: Buffer, messageId: string, logger: Logger, knownAbsent = false): Promise<NonNullable<StateFields['sent_copy']>> {
  // When the sender just saw that no raw item exists, it writes without reading first (a
  // 409 still means "already there").
  const [stored] = (await storeRawWithItems(registry, db, [{ bytes, receivedFrom: `smtp:${account?.name ?? 'unknown'}` }], () => [], { readFirst: !knownAbsent })).results;
  if (!stored || stored.outcome === 'refused') return { stored: false, error: stored?.outcome === 'refused' ? stored.reason : 'not stored' };
  if (!account || account.smtp?.saveSent === false) return { stored: true, folder: null };
  let conn: Awaited<ReturnType<typeof connectAccount>> | undefined;
  try {
    conn = await connectAccount(account, logger);
    const folder = (await specialFolder(conn.client, '\\Sent', 'Sent')) ?? 'Sent';
    const lock = await conn.client.getMailboxLock(folder).catch(async () => {
      // No Sent folder at all: create the conventional one.
      await conn?.client.mailboxCreate(folder);
      return conn!.client.getMailboxLock(folder);
    });
    let present = false;
    try {
      const found = await conn.client.search({ header: { 'message-id': `<${messageId}>` } }, { uid: true });
      present = Array.isArray(found) && found.length > 0;
    } finally {
      lock.release();
    }
    if (!present) await conn.client.append(folder, bytes, ['\\Seen']);
    return { stored: true, folder };
  } catch (err) {
    const error = mailError(err, `appending the sent message to the Sent folder of ${account.name}`, conn ? [conn.secret] : []).message;
    logger.warn('the sent message was not filed in the Sent folder', { account: account.name, error });
    return { stored: true, folder: null, error };
  } finally {
    await conn?.close();
  }
}
