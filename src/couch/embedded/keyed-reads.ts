/**
 * Keyed `_all_docs` (`keys: [...]`), the queue's one way of reading documents by id, as
 * point reads. PouchDB's LevelDB adapter answers each key with a whole range query of its
 * own (a read lock, a document count, an iterator and a stream per key); `get` is one
 * LevelDB lookup for an id that does not exist and two for one that does. Most ids the
 * queue asks for do not exist (a new message's key holds nothing yet), and on 10,000 ids,
 * half of them absent, the point reads take about a third of the time.
 *
 * Only the plain form is answered here (`keys` with `include_docs` and `conflicts`, and
 * the options express-pouchdb adds for its access checks). Any other option, no keys or
 * an empty key sends the whole request to PouchDB's own `allDocs`; a `_local/` key or a
 * deleted document (whose row carries the deletion's revision, which `get` does not
 * give) sends that one key. So every answer is the one PouchDB gives.
 */

type Callback = (error: unknown, result?: unknown) => void;
type Method = (this: unknown, ...args: unknown[]) => unknown;

interface PouchDBClass {
  prototype: Record<string, unknown>;
}

interface KeyedRow {
  id?: string;
  key: unknown;
  value?: { rev: string; deleted?: boolean };
  doc?: unknown;
  error?: string;
}

interface AllDocsResult {
  total_rows?: number;
  offset?: number;
  rows: KeyedRow[];
}

/** Options a plain keyed read may carry: its own, and what express-pouchdb adds. */
const plainOptions = new Set(['keys', 'include_docs', 'conflicts', 'userCtx', 'secObj']);

function isPlainKeyedRead(options: unknown): options is { keys: string[]; include_docs?: unknown; conflicts?: unknown } {
  if (options === null || typeof options !== 'object') return false;
  const record = options as Record<string, unknown>;
  if (!Array.isArray(record.keys) || record.keys.length === 0) return false;
  for (const [name, value] of Object.entries(record)) {
    if (!plainOptions.has(name)) return false;
    if ((name === 'include_docs' || name === 'conflicts') && typeof value !== 'boolean') return false;
  }
  // An empty or non-string key is PouchDB's to refuse or answer.
  return record.keys.every((key) => typeof key === 'string' && key !== '');
}

/** Installs the point-read answer to keyed `_all_docs` on a PouchDB class. */
export function installKeyedReads(PouchDB: PouchDBClass): void {
  const allDocs = PouchDB.prototype.allDocs as Method;
  const get = PouchDB.prototype.get as Method;
  if (typeof allDocs !== 'function' || typeof get !== 'function') throw new Error('PouchDB lacks allDocs or get');

  const readOne = async (db: unknown, key: string, includeDocs: boolean, conflicts: boolean): Promise<KeyedRow> => {
    const asPouchDB = async () => {
      const options = { keys: [key], include_docs: includeDocs, ...(conflicts ? { conflicts: true } : {}) };
      const result = (await allDocs.call(db, options)) as AllDocsResult;
      return result.rows[0] ?? { key, error: 'not_found' };
    };
    // `_local/` documents are not in `_all_docs`, but `get` finds them.
    if (key.startsWith('_local/')) return asPouchDB();
    try {
      const doc = (await get.call(db, key, conflicts ? { conflicts: true } : {})) as { _rev: string };
      return includeDocs ? { id: key, key, value: { rev: doc._rev }, doc } : { id: key, key, value: { rev: doc._rev } };
    } catch (error) {
      const { status, reason } = error as { status?: number; reason?: string };
      if (status === 404 && reason === 'missing') return { key, error: 'not_found' };
      if (status !== 404) throw error;
      // Deleted: its row names the deletion's revision, which only allDocs gives.
      return asPouchDB();
    }
  };

  const keyedRead = async (db: unknown, options: { keys: string[]; include_docs?: unknown; conflicts?: unknown }): Promise<AllDocsResult> => {
    const includeDocs = options.include_docs === true;
    const conflicts = includeDocs && options.conflicts === true;
    const [counted, rows] = await Promise.all([
      allDocs.call(db, { limit: 0 }) as Promise<AllDocsResult>,
      Promise.all(options.keys.map((key) => readOne(db, key, includeDocs, conflicts))),
    ]);
    // As PouchDB answers a keyed read: no skip, so offset 0.
    return { offset: 0, ...(counted.total_rows === undefined ? {} : { total_rows: counted.total_rows }), rows };
  };

  // On this class's own prototype (`plugin` would always patch PouchDB's base class).
  PouchDB.prototype.allDocs = function keyedAllDocs(this: unknown, ...args: unknown[]) {
    const [options] = args;
    if (!isPlainKeyedRead(options)) return allDocs.apply(this, args);
    const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as Callback) : undefined;
    const promise = keyedRead(this, options);
    if (!callback) return promise;
    promise.then((result) => callback(null, result), (error: unknown) => callback(error));
    return undefined;
  };
}
