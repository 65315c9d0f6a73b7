import { bucketPrefix, partitionOfKeyPart, stableHash32 } from '../queue/dependent-buckets.js';
import { bookkeepingPrefix, keyPartOf } from '../queue/provenance.js';
import { clusterLimits } from './limits.js';

export { stableHash32 };

/**
 * The partition of a document: by its key part (`rc!<type>.<value>!<schema>` without the
 * schema), so every document of one key (raw item, email, body, thread...) and its
 * bookkeeping document `rb!<key>` fall in the same partition and have one owner. A deleted
 * document is placed by its id alone, as the feed gives no content for it.
 */
export function partitionOfId(docId: string, partitions: number = clusterLimits.partitions): number {
  // A dependents bucket names its partition (of the fixed count; see queueLimits.keyPartitions).
  if (docId.startsWith(bucketPrefix)) return Number(docId.slice(bucketPrefix.length, docId.indexOf('!', bucketPrefix.length))) % partitions;
  const keyPart = docId.startsWith(bookkeepingPrefix) ? docId.slice(bookkeepingPrefix.length) : keyPartOf(docId);
  return partitionOfKeyPart(keyPart, partitions);
}

export const allPartitions = (partitions: number = clusterLimits.partitions): number[] => Array.from({ length: partitions }, (_, i) => i);
