/**
 * PouchDB-level guards of the embedded server, below every HTTP route, so that no path
 * (PUT, POST, `_bulk_docs` with `new_edits: false`, COPY, attachment uploads, a route
 * added later) gets around them:
 *
 * - every write goes through `bulkDocs`: design documents that carry code other than
 *   Raindrop's own are refused (code-policy.ts), and so are bulk requests over the limit;
 * - `query` runs a stored view only if its functions are Raindrop's own, and never a
 *   temporary view (code sent with the request);
 * - changes filters by function (`filter=ddoc/name`, `filter=_view`) are refused: they
 *   would run design-document code in this process.
 *
 * The write guard makes the view check race-free: a design document that passed the
 * check cannot be replaced by one that would not.
 */

import type { CodePolicy } from './code-policy.js';
import { EMBEDDED_BULK_SLICE_DOCS, EMBEDDED_MAX_BULK_DOCS } from './limits.js';

type Callback = (error: unknown, result?: unknown) => void;
type Method = (this: unknown, ...args: unknown[]) => unknown;

interface PouchDBClass {
  prototype: Record<string, unknown>;
  plugin(plugin: unknown): PouchDBClass;
  _changesFilterPlugin?: { filter(handler: { db: unknown }, opts: Record<string, unknown>): void };
}

/** An error in the shape express-pouchdb turns into `{"error": name, "reason": message}`. */
export function couchError(status: number, name: string, reason: string): Error & { status: number } {
  const error = new Error(reason) as Error & { status: number; error: boolean };
  error.name = name;
  error.status = status;
  error.error = true;
  return error;
}

/** Ends a PouchDB API call with an error, in whichever style it was called. */
function fail(args: unknown[], error: Error): unknown {
  const last = args[args.length - 1];
  if (typeof last === 'function') {
    process.nextTick(() => (last as Callback)(error));
    return undefined;
  }
  return Promise.reject(error);
}

function refuseBulk(policy: CodePolicy, request: unknown): Error | undefined {
  const docs = Array.isArray(request) ? request : (request as { docs?: unknown } | null)?.docs;
  if (!Array.isArray(docs)) return undefined;
  if (docs.length > EMBEDDED_MAX_BULK_DOCS) {
    return couchError(413, 'too_large', `a bulk request may hold at most ${EMBEDDED_MAX_BULK_DOCS} documents; this one has ${docs.length}. Send them in smaller requests`);
  }
  for (const doc of docs) {
    let reason: string | undefined;
    try {
      reason = policy.refuseWrite(doc);
    } catch {
      reason = 'the design document is not JSON data';
    }
    if (reason) return couchError(403, 'forbidden', reason);
  }
  return undefined;
}

/**
 * Writes a big bulk request in slices, yielding to the event loop between them, so that
 * other requests are answered meanwhile instead of after the whole request. `_bulk_docs`
 * is not atomic in CouchDB either: each document has its own result, in order.
 */
function inSlices(db: unknown, bulkDocs: Method, request: { docs?: unknown[] } | unknown[], docs: unknown[], args: unknown[]): unknown {
  const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as Callback) : undefined;
  const options = args.length > (callback ? 2 : 1) && typeof args[1] === 'object' ? args[1] : undefined;
  const run = async (): Promise<unknown[]> => {
    const results: unknown[] = [];
    for (let start = 0; start < docs.length; start += EMBEDDED_BULK_SLICE_DOCS) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      const slice = docs.slice(start, start + EMBEDDED_BULK_SLICE_DOCS);
      const sliceRequest = Array.isArray(request) ? slice : { ...request, docs: slice };
      const written = (await (options === undefined ? bulkDocs.call(db, sliceRequest) : bulkDocs.call(db, sliceRequest, options))) as unknown[];
      results.push(...written);
    }
    return results;
  };
  const promise = run();
  if (!callback) return promise;
  promise.then((results) => callback(null, results), (error: unknown) => callback(error));
  return undefined;
}

/** Installs the guards on a PouchDB class that already has its map/reduce plugin
 * (view-engine.ts). */
export function installPouchGuards(PouchDB: PouchDBClass, policy: CodePolicy): void {
  const bulkDocs = PouchDB.prototype.bulkDocs as Method;
  const query = PouchDB.prototype.query as Method;
  if (typeof bulkDocs !== 'function' || typeof query !== 'function') throw new Error('PouchDB lacks bulkDocs or query');

  PouchDB.plugin({
    bulkDocs(this: unknown, ...args: unknown[]) {
      const refusal = refuseBulk(policy, args[0]);
      if (refusal) return fail(args, refusal);
      const request = args[0] as { docs?: unknown[] } | unknown[];
      const docs = Array.isArray(request) ? request : request.docs;
      if (!Array.isArray(docs) || docs.length <= EMBEDDED_BULK_SLICE_DOCS) return bulkDocs.apply(this, args);
      return inSlices(this, bulkDocs, request, docs, args);
    },
    query(this: { get(id: string): Promise<Record<string, unknown>> }, ...args: unknown[]) {
      const [fun] = args;
      if (typeof fun !== 'string') {
        return fail(args, couchError(403, 'forbidden', 'temporary views run code sent with the request; the embedded server runs only Raindrop\'s own views'));
      }
      const [ddocName, viewName] = splitViewName(fun);
      const checked = this.get(`_design/${ddocName}`).then(
        (ddoc) => {
          const views = ddoc.views as Record<string, unknown> | undefined;
          const view = views && Object.prototype.hasOwnProperty.call(views, viewName) ? views[viewName] : undefined;
          // A missing view is the query's own 404.
          const reason = view === undefined ? undefined : policy.refuseView(view);
          if (reason) throw couchError(403, 'forbidden', reason);
        },
        // A missing design document too.
        () => undefined,
      );
      const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as Callback) : undefined;
      const run = checked.then(() => query.apply(this, callback ? args.slice(0, -1) : args));
      if (!callback) return run;
      run.then((result) => callback(null, result), (error: unknown) => callback(error));
      return undefined;
    },
  });

  const filterPlugin = PouchDB._changesFilterPlugin;
  if (!filterPlugin) throw new Error('PouchDB lacks its changes filter plugin');
  const filter = filterPlugin.filter.bind(filterPlugin);
  filterPlugin.filter = (handler, opts) => {
    // Selectors (`_selector`) are data; anything else names code in a design document.
    if (typeof opts.selector !== 'object' || opts.selector === null || opts.filter !== '_selector') {
      const complete = opts.complete as Callback;
      return complete(couchError(403, 'forbidden', 'changes filters by function run code from the database, which the embedded server does not; use a selector ({"selector": ...} with filter=_selector) or doc_ids'));
    }
    return filter(handler, opts);
  };
}

/** As pouchdb-abstract-mapreduce's parseViewName reads it: "ddoc/view", or "view" for
 * the design document of the same name. */
function splitViewName(name: string): [string, string] {
  if (!name.includes('/')) return [name, name];
  const [ddoc = '', view = ''] = name.split('/');
  return [ddoc, view];
}
