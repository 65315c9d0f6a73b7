import { contentHash } from '../core/index.js';
import type { CouchDoc } from '../couch/documents.js';
import { dependentsPrefix } from './dependents.js';

/**
 * What the queue remembers about one source document: per extension, the source content
 * and code it last ran with, what it produced, and whether it failed. It is what makes
 * "already done" a lookup by id instead of a re-run, and what tells which outputs went
 * stale. Stored as a plain document next to the source (bookkeeping, not an item):
 * deleting it only costs a re-run.
 */
export interface ProvenanceEntry {
  source_hash: string;
  code_hash: string;
  outputs: string[];
  /** The id of the rd.core.error document when the run failed. */
  error?: string;
  /** Documents the outputs declared as dependencies. */
  deps?: string[];
  /** For the dependencies the run read: the content hash it saw (`absent` for a document
   * that did not exist). A dependency that comes back on the feed with that same content
   * (typically written by an earlier extension of the same batch) re-triggers nothing. */
  seen?: Record<string, string>;
}

export interface ProvenanceDoc extends CouchDoc {
  rd_provenance_of: string;
  extensions: Record<string, ProvenanceEntry>;
}

export const provenancePrefix = 'rp!';

export function provenanceId(sourceId: string): string {
  return `${provenancePrefix}${sourceId}`;
}

export function isBookkeeping(id: string): boolean {
  return id.startsWith(provenancePrefix) || id.startsWith(dependentsPrefix) || id.startsWith('_design/');
}

/**
 * The hash of a source document's content as an extension sees it: everything but the
 * revision, with attachments reduced to type and length (their bytes are identified in
 * rd_schema_items), so an in-memory document of a batch and the same document read back
 * from the server hash the same.
 */
export function sourceHash(doc: CouchDoc): string {
  const { _rev, _revisions, _conflicts, _attachments, ...rest } = doc as CouchDoc & { _revisions?: unknown; _conflicts?: unknown };
  const attachments: Record<string, unknown> = {};
  for (const [name, att] of Object.entries(_attachments ?? {})) {
    attachments[name] = { content_type: att.content_type, length: att.length ?? (att.data !== undefined ? Buffer.from(att.data, 'base64').length : null) };
  }
  return contentHash({ ...rest, _attachments: attachments });
}
