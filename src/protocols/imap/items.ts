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
export const foldersSchema = 'rd.imap.folders';
export const pushSchema = 'rd.imap.push';
export const syncStatusSchema = 'rd.core.sync-status';
export const flagSchemas = { seen: 'rd.msg.seen', flagged: 'rd.msg.flagged', deleted: 'rd.msg.deleted', archived: 'rd.msg.archived' } as const;

export interface Location {
  account: string;
  folder: string;
  uid: number;
  uidvalidity: string;
  /** The server's flags of the message in this folder (absent: not known yet). */
  seen?: boolean;
  flagged?: boolean;
  deleted?: boolean;
}

export interface ServerFlags {
  seen: boolean;
  flagged: boolean;
  deleted: boolean;
}

export function serverFlags(flags: ReadonlySet<string>): ServerFlags {
  return { seen: flags.has('\\Seen'), flagged: flags.has('\\Flagged'), deleted: flags.has('\\Deleted') };
}

export function messageKeyOf(id: string): RdKey {
  return ['email', id];
}

function sameSlot(a: Location, b: Location): boolean {
  return a.account === b.account && a.folder === b.folder && a.uid === b.uid && a.uidvalidity === b.uidvalidity;
}

function sameFlags(a: Location, b: Location): boolean {
  return a.seen === b.seen && a.flagged === b.flagged && a.deleted === b.deleted;
}

function sorted(list: Location[]): Location[] {
  return [...list].sort((a, b) => (a.account !== b.account ? (a.account < b.account ? -1 : 1) : a.folder !== b.folder ? (a.folder < b.folder ? -1 : 1) : a.uid - b.uid));
}

export function locationsOf(fields: Record<string, JsonValue> | undefined): Location[] {
  return Array.isArray(fields?.locations) ? (fields.locations as unknown as Location[]) : [];
}

/** Adds a location to a message's list, or updates the flags of that slot (idempotent). */
export function addLocation(messageId: string, location: Location, flags?: ServerFlags): ItemUpdate {
  const entry: Location = { ...location, ...(flags ?? {}) };
  return {
    key: messageKeyOf(messageId),
    schemaId: locationSchema,
    writer: imapWriter,
    next(current) {
      const list = locationsOf(current);
      const old = list.find((l) => sameSlot(l, location));
      if (old && (flags === undefined || sameFlags(old, entry))) return 'keep';
      return { locations: sorted([...list.filter((l) => l !== old), old && !flags ? old : entry]) as unknown as JsonValue };
    },
  };
}

/** The server's flags of one message in one folder changed (CONDSTORE, a push). */
export function setLocationFlags(messageId: string, match: (l: Location) => boolean, flags: Partial<ServerFlags>): ItemUpdate {
  return {
    key: messageKeyOf(messageId),
    schemaId: locationSchema,
    writer: imapWriter,
    next(current) {
      const list = locationsOf(current);
      let changed = false;
      const next = list.map((l) => {
        if (!match(l)) return l;
        const updated = { ...l, ...flags };
        if (!sameFlags(l, updated)) changed = true;
        return updated;
      });
      return changed ? { locations: next as unknown as JsonValue } : 'keep';
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
 * The server's flags of a message mirrored into rd.msg.seen / flagged / deleted (writer
 * rd.imap), computed from the flags of all its locations (read from rd.msg.location as
 * it is after the updates before this one), so the result does not depend on which
 * folder was synced last: seen or flagged when it is in any folder, deleted when it is
 * in every folder. Put these after the location updates of the same message. `seen` is
 * always written (the UI shows unread); flagged and deleted only once they have been
 * true, so an ordinary message costs one flag document, not three. Locations whose flags
 * are not known yet count for nothing.
 */
export function mirrorFlags(messageId: string): ItemUpdate[] {
  const key = messageKeyOf(messageId);
  const reads = [{ key, schemaId: locationSchema, writer: imapWriter }];
  const one = (schemaId: string, field: keyof ServerFlags, always: boolean): ItemUpdate => ({
    key,
    schemaId,
    writer: imapWriter,
    reads,
    next(current, peek) {
      const known = locationsOf(peek(key, locationSchema, imapWriter)).filter((l) => l[field] !== undefined);
      if (known.length === 0) return 'keep';
      const value = field === 'deleted' ? known.every((l) => l.deleted === true) : known.some((l) => l[field] === true);
      if (current === undefined && !value && !always) return 'keep';
      if (current?.[field] === value) return 'keep';
      return { [field]: value };
    },
  });
  return [one(flagSchemas.seen, 'seen', true), one(flagSchemas.flagged, 'flagged', false), one(flagSchemas.deleted, 'deleted', false)];
}
