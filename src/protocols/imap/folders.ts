import type { ImapFlow } from 'imapflow';
import type { AccountSettings } from '../../config/index.js';

export interface FolderInfo {
  path: string;
  specialUse: string | undefined;
}

/** Special-use folders skipped unless named in the account's folder list: their mail is
 * either garbage (Junk, Trash) or a copy of every other folder (Gmail's All Mail). */
const skippedByDefault = new Set(['\\Trash', '\\Junk', '\\All', '\\Flagged', '\\Important']);
/** Order of the first folders: what the user looks at first arrives first. */
const firstOrder = ['\\Inbox', '\\Sent', '\\Drafts'];

/**
 * The folders to sync: every selectable folder, minus the skipped special-use ones and the
 * account's exclude list; an include list (`folders`) limits it to those (and overrides the
 * default skips). INBOX, Sent and Drafts first, the rest by path.
 */
export async function discoverFolders(client: ImapFlow, account: Pick<AccountSettings, 'folders' | 'excludeFolders'>, only?: readonly string[]): Promise<FolderInfo[]> {
  const listed = await client.list();
  const include = only && only.length > 0 ? only : account.folders;
  const chosen = listed
    .filter((box) => !box.flags.has('\\Noselect') && !box.flags.has('\\NonExistent'))
    .filter((box) => {
      const named = (list: readonly string[]) => list.some((f) => f === box.path || (f.toUpperCase() === 'INBOX' && box.path.toUpperCase() === 'INBOX'));
      if (include.length > 0) return named(include);
      if (named(account.excludeFolders)) return false;
      return !(box.specialUse && skippedByDefault.has(box.specialUse));
    })
    .map((box) => ({ path: box.path, specialUse: box.specialUse }));
  const rank = (f: FolderInfo) => {
    const i = firstOrder.indexOf(f.specialUse ?? (f.path.toUpperCase() === 'INBOX' ? '\\Inbox' : ''));
    return i < 0 ? firstOrder.length : i;
  };
  return chosen.sort((a, b) => rank(a) - rank(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The folder with this special use (e.g. `\\Archive`, `\\Trash`), if the server has one. */
export async function specialFolder(client: ImapFlow, use: string, fallbackName: string): Promise<string | undefined> {
  const listed = await client.list();
  return (listed.find((b) => b.specialUse === use) ?? listed.find((b) => b.path.toLowerCase() === fallbackName.toLowerCase()))?.path;
}
