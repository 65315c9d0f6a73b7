import type { JsonValue } from '../../src/core/index.js';
import type { HostServices } from '../../src/sandbox/types.js';

/** Limits small enough that a hostile test finishes in well under a second. */
export const testLimits = { cpuMsPerDoc: 300, wallMsPerDoc: 1_500, memoryMb: 64, outputBytesPerDoc: 200_000, docsPerCall: 50 };

/** Host services backed by an in-memory map of documents, as `raindrop ext run --open` does. */
export function fixtureServices(docs: Record<string, Record<string, unknown>> = {}, attachments: Record<string, Uint8Array> = {}): HostServices & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async open(requests) {
      calls.push(`open:${requests.length}`);
      const { docIdFor } = await import('../../src/core/index.js');
      return requests.map((r) => docs[docIdFor(r.key, r.schemaId)] ?? null);
    },
    async attachment(id, name) {
      calls.push(`attachment:${id}/${name}`);
      return attachments[`${id}/${name}`] ?? null;
    },
    async query(view, params) {
      calls.push(`query:${view}`);
      return { rows: [], view, params };
    },
    async myIdentities(): Promise<JsonValue[]> {
      return [['email', 'me@example.org']];
    },
  };
}

export function sourceDoc(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { _id: `rc!email.doc${n}!rd.msg.test`, rd_key: ['email', `doc${n}`], rd_schema_id: 'rd.msg.test', n, subject: `Subject ${n}`, ...extra };
}
