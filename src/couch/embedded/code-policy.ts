/**
 * Which code from the database the embedded server may run. express-pouchdb runs view
 * functions (and would run filters, shows, lists, updates) with Node's `vm` module inside
 * the server process, which is no security boundary: a map function can reach `process`
 * and read the admin login and the mail account passwords. Real CouchDB runs them in a
 * separate couchjs process. Rather than build a sandboxed view engine, the embedded
 * server runs only Raindrop's own view functions, the ones `raindrop init` installs from
 * couchapp/ddocs (recognised by content hash), and refuses every other design document
 * that carries code. Nothing Raindrop needs is lost: the queue reads by id, the front end
 * uses Raindrop's views, and Mango indexes (`_index`, `_find`) are data, not code.
 */

import { canonicalJson, sha256Hex } from '../../core/index.js';

/** A design document as couchapp/ddocs describes it (see couch/push-design-docs.ts). */
export interface TrustedDesignDoc {
  _id: string;
  [field: string]: unknown;
}

/** Reduce functions that are names, not code: the server implements them itself. */
const BUILT_IN_REDUCE = new Set(['_sum', '_count', '_stats']);

export interface CodePolicy {
  /** Why this document may not be stored, or undefined when it may. */
  refuseWrite(doc: unknown): string | undefined;
  /** Why this view of a stored design document may not run, or undefined when it may. */
  refuseView(view: unknown): string | undefined;
  /** Whether this function text (a map or reduce function, or a built-in reduce name) is
   * one of Raindrop's own: the view engine compiles no other. */
  trustsFunction(source: string): boolean;
}

export function createCodePolicy(trusted: readonly TrustedDesignDoc[]): CodePolicy {
  const trustedContent = new Map<string, Set<string>>();
  const trustedFunctions = new Set<string>(BUILT_IN_REDUCE);
  for (const doc of trusted) {
    const hashes = trustedContent.get(doc._id) ?? new Set<string>();
    hashes.add(contentHash(doc));
    trustedContent.set(doc._id, hashes);
    for (const view of Object.values(asRecord(doc.views) ?? {})) {
      const { map, reduce } = asRecord(view) ?? {};
      if (typeof map === 'string') trustedFunctions.add(map);
      if (typeof reduce === 'string') trustedFunctions.add(reduce);
    }
  }

  return {
    refuseWrite(doc) {
      const record = asRecord(doc);
      if (!record || typeof record._id !== 'string' || !record._id.startsWith('_design/')) return undefined;
      // Deleting a design document runs nothing.
      if (record._deleted === true) return undefined;
      if (trustedContent.get(record._id)?.has(contentHash(record))) return undefined;
      const content = withoutMetadata(record);
      // Attachments only (the web app's files): data for the browser, nothing runs here.
      if (Object.keys(content).length === 0) return undefined;
      if (isMangoIndex(content)) return undefined;
      return (
        `the design document ${record._id} is not one of Raindrop's own (couchapp/ddocs, installed by "raindrop init"): ` +
        `the embedded server runs no other code from the database. Add views to couchapp/ddocs, or use Mango (_index, _find)`
      );
    },
    refuseView(view) {
      const { map, reduce } = asRecord(view) ?? {};
      if (typeof map !== 'string' || !trustedFunctions.has(map) || (reduce !== undefined && (typeof reduce !== 'string' || !trustedFunctions.has(reduce)))) {
        return `this view is not one of Raindrop's own (run "raindrop init" to install them): the embedded server runs no other code from the database`;
      }
      return undefined;
    },
    trustsFunction(source) {
      return trustedFunctions.has(source);
    },
  };
}

/** The content that decides what runs: everything but `_id`, `_rev`, `_attachments` and
 * the other underscore metadata. */
function withoutMetadata(doc: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).filter(([key]) => !key.startsWith('_')));
}

function contentHash(doc: Record<string, unknown>): string {
  return sha256Hex(canonicalJson(withoutMetadata(doc)));
}

/** What pouchdb-find's `createIndex` writes: field lists, no functions. */
function isMangoIndex(content: Record<string, unknown>): boolean {
  if (content.language !== 'query') return false;
  if (Object.keys(content).some((key) => key !== 'language' && key !== 'views')) return false;
  const views = asRecord(content.views);
  if (!views) return false;
  return Object.values(views).every((view) => {
    const record = asRecord(view);
    if (!record || Object.keys(record).some((key) => !['map', 'reduce', 'options'].includes(key))) return false;
    const reduceOk = record.reduce === undefined || (typeof record.reduce === 'string' && BUILT_IN_REDUCE.has(record.reduce));
    return asRecord(record.map) !== undefined && reduceOk;
  });
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
