import { createHash } from 'node:crypto';
import { bookkeepingPrefix, keyPartOf } from '../queue/provenance.js';
import { clusterLimits } from './limits.js';

/** A stable 32-bit number of a string (the first 4 bytes of its SHA-256): the same on
 * every machine and Node version, unlike any in-process hash. */
export function stableHash32(text: string): number {
  return createHash('sha256').update(text, 'utf8').digest().readUInt32BE(0);
}

/**
 * The partition of a document: by its key part (`rc!<type>.<value>!<schema>` without the
 * schema), so every document of one key (raw item, email, body, thread...) and its
 * bookkeeping document `rb!<key>` fall in the same partition and have one owner. A deleted
 * document is placed by its id alone, as the feed gives no content for it.
 */
export function partitionOfId(docId: string, partitions: number = clusterLimits.partitions): number {
  const keyPart = docId.startsWith(bookkeepingPrefix) ? docId.slice(bookkeepingPrefix.length) : keyPartOf(docId);
  return stableHash32(keyPart) % partitions;
}

export const allPartitions = (partitions: number = clusterLimits.partitions): number[] => Array.from({ length: partitions }, (_, i) => i);
