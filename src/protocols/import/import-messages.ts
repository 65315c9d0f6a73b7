import type { Db } from '../../couch/connect.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { type RawMessage, storeRawMessages } from '../store-raw.js';
import { importLimits } from './limits.js';
import { type Found, type FoundMessage, findMessages } from './sources.js';

export interface ImportSummary {
  imported: number;
  duplicate: number;
  refused: Array<{ origin: string; reason: string }>;
  /** Files in a searched directory passed over by name (sources.ts): data, not mail. */
  skipped: number;
  bytes: number;
}

export interface ImportProgress {
  seen: number;
  imported: number;
  duplicate: number;
  refused: number;
  bytes: number;
}

/**
 * Imports mail files into raw items, exactly as a fetcher does (same keys, same
 * dedupe). Whatever is not mail is refused with its reason and the rest continues.
 */
export async function importPaths(
  registry: SchemaRegistry,
  db: Db,
  paths: readonly string[],
  onProgress: (p: ImportProgress) => void = () => undefined,
): Promise<ImportSummary> {
  const summary: ImportSummary = { imported: 0, duplicate: 0, refused: [], skipped: 0, bytes: 0 };
  let batch: FoundMessage[] = [];
  let batchBytes = 0;
  let seen = 0;
  const report = () => onProgress({ seen, imported: summary.imported, duplicate: summary.duplicate, refused: summary.refused.length, bytes: summary.bytes });
  const flush = async () => {
    if (batch.length === 0) return;
    const messages: RawMessage[] = batch.map((m) => ({ bytes: stripFromLine(m.bytes), receivedFrom: `import:${m.kind}` }));
    const results = await storeRawMessages(registry, db, messages);
    results.forEach((r, i) => {
      if (r.outcome === 'refused') summary.refused.push({ origin: (batch[i] as FoundMessage).origin, reason: r.reason });
      else if (r.outcome === 'stored') summary.imported++;
      else summary.duplicate++;
    });
    batch = [];
    batchBytes = 0;
    report();
  };
  for await (const found of findMessages(paths) as AsyncGenerator<Found>) {
    if ('skipped' in found) {
      summary.skipped++;
      continue;
    }
    seen++;
    if ('refused' in found) {
      summary.refused.push({ origin: found.origin, reason: found.refused });
      continue;
    }
    if (found.bytes.length > importLimits.maxMessageBytes) {
      summary.refused.push({ origin: found.origin, reason: `${found.bytes.length} bytes is over the ${importLimits.maxMessageBytes}-byte limit` });
      continue;
    }
    if (found.bytes.length === 0) {
      summary.refused.push({ origin: found.origin, reason: 'the file is empty' });
      continue;
    }
    summary.bytes += found.bytes.length;
    batch.push(found);
    batchBytes += found.bytes.length;
    if (batch.length >= importLimits.batchMessages || batchBytes >= importLimits.batchBytes) await flush();
  }
  await flush();
  return summary;
}

/** An mbox "From " envelope line in front of a single .eml is not part of the message. */
function stripFromLine(bytes: Buffer): Buffer {
  if (bytes.toString('latin1', 0, 5) !== 'From ') return bytes;
  const nl = bytes.indexOf(10);
  return nl < 0 ? bytes : bytes.subarray(nl + 1);
}
