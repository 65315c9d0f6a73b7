/**
 * What an extension may read, decided on the host. The bootstrap checks the same rules
 * inside the isolate to give early, plain messages, but it shares its context with the
 * extension, which can replace the builtins it checks with (Set.prototype.has...): only
 * these checks, made in the pool's parent process from the declaration, are
 * authoritative. `reads` bounds every way of reading:
 *
 * - `open` / `openMany`: documents of the schemas in `reads`;
 * - `attachment`: attachments of the documents the extension was given in this call, or
 *   of documents it may open;
 * - `query`: only rows emitted by documents it may open (a row's id names its schema;
 *   included documents are checked by their own id), never reduce results (they combine
 *   documents of every schema), and nothing at all without `reads`.
 */

import { parseDocId } from '../core/index.js';
import type { ExtensionDeclaration } from './types.js';

/** Marks a host refusal so the bootstrap reports it as a `capability` failure. */
export const CAPABILITY_PREFIX = '[capability] ';

export class CapabilityRefused extends Error {
  constructor(reason: string) {
    super(`${CAPABILITY_PREFIX}${reason}`);
  }
}

/** The schema a Raindrop document id names; undefined for any other id. */
function schemaOfId(id: unknown): string | undefined {
  if (typeof id !== 'string') return undefined;
  try {
    return parseDocId(id).schemaId;
  } catch {
    return undefined;
  }
}

export function checkOpen(declaration: ExtensionDeclaration, requests: ReadonlyArray<{ schemaId: unknown }>): void {
  for (const { schemaId } of requests) {
    if (typeof schemaId !== 'string' || !declaration.reads.includes(schemaId)) {
      throw new CapabilityRefused(`rd.open of schema ${JSON.stringify(schemaId)} is refused: add it to "reads" in the extension's declaration`);
    }
  }
}

export function checkAttachment(declaration: ExtensionDeclaration, givenIds: ReadonlySet<string>, docId: string): void {
  if (givenIds.has(docId)) return;
  const schemaId = schemaOfId(docId);
  if (schemaId !== undefined && declaration.reads.includes(schemaId)) return;
  throw new CapabilityRefused(
    `rd.attachment of document ${JSON.stringify(docId)} is refused: an extension reads attachments of the documents it is given, or of documents of the schemas in its "reads"`,
  );
}

export function checkQuery(declaration: ExtensionDeclaration, view: string): void {
  if (declaration.reads.length === 0) {
    throw new CapabilityRefused(`rd.query("${view}") is refused: the extension declares no schemas in "reads", so there is nothing a view may answer it`);
  }
}

/** The part of a view's answer the extension may see. */
export function filterQueryResult(declaration: ExtensionDeclaration, view: string, result: unknown): { rows: unknown[] } {
  const rows = (result as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) return { rows: [] };
  const readable = (id: unknown) => {
    const schemaId = schemaOfId(id);
    return schemaId !== undefined && declaration.reads.includes(schemaId);
  };
  const allowed: unknown[] = [];
  for (const row of rows as Array<Record<string, unknown> | null>) {
    if (row === null || typeof row !== 'object') continue;
    if (!('id' in row)) {
      throw new CapabilityRefused(`rd.query("${view}") is refused: reduce results combine documents of every schema; query with {reduce: false}`);
    }
    if (!readable(row.id)) continue;
    // include_docs can bring another document than the row's (a value {_id: ...}).
    if ('doc' in row && row.doc !== null && !readable((row.doc as { _id?: unknown } | undefined)?._id)) continue;
    allowed.push(row);
  }
  return { rows: allowed };
}
