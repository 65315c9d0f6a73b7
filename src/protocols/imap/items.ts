import type { JsonValue, RdKey } from '../../core/index.js';
import type { ItemUpdate } from '../write-items.js';

/** The writer of everything IMAP sync mirrors from servers (locations, flags, folder state). */
export const imapWriter = 'rd.imap';
/** The writer of the user's own changes (CLI `mark`, the UI); higher confidence wins. */
export const userWriter = 'user';
export const userConfidence = 2;

export const locationSchema = 'rd.msg.location';
export const folderStateSchema = 'rd.imap.folder-state';
export const folderUidsSchema = 'rd.imap.folder-uids';
export const pushSchema = 'rd.imap.push';
export const syncStatusSchema = 'rd.core.sync-status';
export const flagSchemas = { seen: 'rd.msg.seen', flagged: 'rd.msg.flagged', deleted: 'rd.msg.deleted', archived: 'rd.msg.archived' } as const;

export interface Location {
  account: string;
  folder: string;
  uid: number;
  uidvalidity: string;
}

export function messageKeyOf(id: string): RdKey {
  return ['email', id];
}

function sameSlot(a: Location, b: Location): boolean {
  return a.account === b.account && a.folder === b.folder && a.uid === b.uid && a.uidvalidity === b.uidvalidity;
}

function sorted(list: Location[]): Location[] {
  return [...list].sort((a, b) => (a.account !== b.account ? (a.account < b.account ? -1 : 1) : a.folder !== b.folder ? (a.folder < b.folder ? -1 : 1) : a.uid - b.uid));
}

export function locationsOf(fields: Record<string, JsonValue> | undefined): Location[] {
  return Array.isArray(fields?.locations) ? (fields.locations as unknown as Location[]) : [];
}

/** Adds a location to a message's list (idempotent). */
export function addLocation(messageId: string, location: Location): ItemUpdate {
  return {
    key: messageKeyOf(messageId),
    schemaId: locationSchema,
    writer: imapWriter,
    next(current) {
      const list = locationsOf(current);
      if (list.some((l) => sameSlot(l, location))) return 'keep';
      return { locations: sorted([...list, location]) as unknown as JsonValue };
    },
  };
}

/** Removes the locations matching `match`; the document goes when none is left. */
export function removeLocations(messageId: string, match: (l: Location) => boolean): ItemUpdate {
  return {
    key: messageKeyOf(messageId),
    schemaId: locationSchema,
    writer: imapWriter,
    next(current) {
      const list = locationsOf(current);
      const kept = list.filter((l) => !match(l));
      if (kept.length === list.length) return 'keep';
      return kept.length === 0 ? 'remove' : { locations: kept as unknown as JsonValue };
    },
  };
}

/**
 * The server's flags of one message mirrored into rd.msg.seen / flagged / deleted (writer
 * rd.imap). `seen` is always written (the UI shows unread); flagged and deleted only once
 * they have been true, so an ordinary message costs one flag document, not three.
 */
export function mirrorFlags(messageId: string, flags: ReadonlySet<string>): ItemUpdate[] {
  const key = messageKeyOf(messageId);
  const one = (schemaId: string, field: string, value: boolean, always: boolean): ItemUpdate => ({
    key,
    schemaId,
    writer: imapWriter,
    next(current) {
      if (current === undefined && !value && !always) return 'keep';
      return { [field]: value };
    },
  });
  return [
    one(flagSchemas.seen, 'seen', flags.has('\\Seen'), true),
    one(flagSchemas.flagged, 'flagged', flags.has('\\Flagged'), false),
    one(flagSchemas.deleted, 'deleted', flags.has('\\Deleted'), false),
  ];
}
