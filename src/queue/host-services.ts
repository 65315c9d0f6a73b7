import { RaindropError, docIdFor, errorCodes, type JsonValue } from '../core/index.js';
import { callCouch, type Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { listByKeyType } from '../couch/list-by-key-type.js';
import { readAttachment } from '../couch/read-attachment.js';
import type { HostServices } from '../sandbox/types.js';
import type { SchemaRegistry } from '../schema/registry.js';
import type { BatchWriter } from './batch-writer.js';

/**
 * The host side of `rd` for one batch: reads go to the batch's own state first (read
 * your own writes before they are stored), then to the database by id; documents of an
 * older schema version are upgraded on the way out.
 */
export function batchHostServices(db: Db, writer: BatchWriter, registry: SchemaRegistry): HostServices {
  let identities: JsonValue[] | undefined;
  const upgrade = async (doc: CouchDoc): Promise<CouchDoc> => {
    const schema = registry.get(String(doc.rd_schema_id));
    if (!schema || (typeof doc.rd_schema_version === 'number' && doc.rd_schema_version >= schema.version)) return doc;
    return registry.upgradeDoc(doc);
  };
  /** Prefetched (prefetch.ts), or inline in a document of the batch. */
  const inMemory = (id: string, name: string): Buffer | undefined => {
    const cached = writer.cachedAttachment(id, name);
    if (cached) return cached;
    const inBatch = writer.get(id)?._attachments?.[name];
    return inBatch?.data !== undefined ? Buffer.from(inBatch.data, 'base64') : undefined;
  };
  return {
    async open(requests) {
      const ids = requests.map((r) => docIdFor(r.key, r.schemaId));
      await writer.load(ids);
      return Promise.all(ids.map(async (id) => {
        const doc = writer.get(id);
        return doc ? ((await upgrade(doc)) as Record<string, unknown>) : null;
      }));
    },
    async attachment(id, name) {
      return inMemory(id, name) ?? (await readAttachment(db, id, name)) ?? null;
    },
    cachedAttachment: inMemory,
    async query(view, params) {
      const [ddoc, name] = view.split('/');
      if (!ddoc || !name || !ddoc.startsWith('rd_')) {
        throw new RaindropError(errorCodes.USAGE, `rd.query("${view}"): only the project's own views ("rd_<design doc>/<view>") may be queried`);
      }
      return callCouch(db.couch, `querying ${view}`, () => db.scope.view(ddoc, name, params as Record<string, unknown>));
    },
    async myIdentities() {
      // By id prefix, not by view: a view query here would make the server index every
      // document written since the last batch first (it made rd.ext.grouping 40% of the
      // whole mail cascade).
      identities ??= (await listByKeyType(db, 'account', 'rd.account')).flatMap((d) => (d.identities as JsonValue[] | undefined) ?? []);
      return identities;
    },
  };
}
