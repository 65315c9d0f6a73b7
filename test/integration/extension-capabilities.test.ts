/**
 * `reads` bounds every way an extension reads (issue 11): the probes of the issue, run by
 * extensions in the real sandbox against the real host services of the queue on the
 * run's server, with a real message stored as a fetcher stores it.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { readShippedDesignDocs, pushDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { BatchWriter } from '../../src/queue/batch-writer.js';
import { batchHostServices } from '../../src/queue/host-services.js';
import { startSandboxPool, type SandboxPool } from '../../src/sandbox/pool.js';
import type { DocResult } from '../../src/sandbox/types.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { spamAssassinDir } from '../helpers/corpus.js';
import { testLimits } from '../helpers/sandbox.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('capabilities');
let registry: SchemaRegistry;
let pool: SandboxPool;
let rawId: string;
let rawDoc: Record<string, unknown>;

/** An extension that tries one read and reports what it got (or the refusal) as output. */
const prober = (id: string, reads: string[], probe: string, prelude = '') => `${prelude}
export default {
  id: '${id}', source_schemas: ['rd.msg.rfc822'], emits: ['rd.test.probe'], reads: ${JSON.stringify(reads)},
  handler(doc, rd) {
    const got = (() => { ${probe} })();
    rd.emit('rd.test.probe', { got: JSON.stringify(got ?? null) });
  },
};`;

const probes = {
  // The probe: with reads: [], the whole rfc822 documents through a view.
  'query-without-reads': prober('probe.query-none', [], "return rd.query('rd_core/by_schema', { key: 'rd.msg.rfc822', include_docs: true, reduce: false });"),
  // A view over every schema: only rows of the declared schemas come back.
  'query-beyond-reads': prober('probe.query-some', ['rd.core.schema'], "return rd.query('rd_core/by_schema', { include_docs: true, reduce: false });"),
  'query-reduce': prober('probe.query-reduce', ['rd.core.schema'], "return rd.query('rd_core/by_schema', { group: true });"),
  // The probe: any raw message by id.
  'attachment-of-another-document': prober('probe.attachment', [], "return rd.attachment(doc.other_id, 'rd.fetch/rfc822', 'text');"),
  'attachment-of-its-own-document': prober('probe.own-attachment', [], "return rd.attachment(doc, 'rd.fetch/rfc822', 'text').slice(0, 200);"),
  // The in-isolate check of reads relies on Set.prototype.has, which the extension owns.
  'open-with-a-tampered-set': prober('probe.open', [], "return rd.open(doc.rd_key, 'rd.msg.rfc822');", 'Set.prototype.has = function () { return true; };'),
};

beforeAll(async () => {
  await pushDesignDocs(t.db, await readShippedDesignDocs());
  await installSchemas(t.db, builtInSchemaDir());
  registry = await SchemaRegistry.load(t.db);
  const bytes = await readFile(join(spamAssassinDir, 'hard-ham-1', '00001.7c7d6921e671bbe18ebb5f893cd9bb35.txt'));
  const [stored] = await storeRawMessages(registry, t.db, [{ bytes, receivedFrom: 'import:test' }]);
  if (stored?.outcome !== 'stored') throw new Error(`the test message was not stored: ${JSON.stringify(stored)}`);
  rawId = stored.id;
  rawDoc = (await t.db.scope.get(rawId)) as unknown as Record<string, unknown>;
  pool = await startSandboxPool({ sources: Object.entries(probes).map(([name, code]) => ({ origin: `${name}.js`, code })), size: 1, limits: testLimits });
  expect(pool.extensions.filter((e) => e.problems.length > 0)).toEqual([]);
});
afterAll(async () => {
  await pool?.close();
  await registry?.close();
});

/** Runs a probe on a document of another message (a copy of the stored one under another
 * id), so that the stored message is "another document" to the extension. */
async function probe(id: string, given: Record<string, unknown> = { ...rawDoc, _id: 'rc!email.Im90aGVyIg!rd.msg.rfc822', other_id: rawId }): Promise<DocResult> {
  const [result] = await pool.run(id, [given], batchHostServices(t.db, new BatchWriter(t.db), registry));
  return result as DocResult;
}

const got = (result: DocResult): unknown => (result.ok ? JSON.parse(String(result.emits[0]?.fields.got)) : undefined);

describe('reads bounds every way of reading', () => {
  it('query with no reads is refused (the issue: whole rfc822 documents came back)', async () => {
    const result = await probe('probe.query-none');
    expect(result).toMatchObject({ ok: false, kind: 'capability' });
    expect(JSON.stringify(result)).not.toContain('Received:');
  });

  it('query answers only rows of documents of the schemas in reads', async () => {
    const result = await probe('probe.query-some');
    const rows = (got(result) as { rows: Array<{ id: string; key: string; doc: { rd_schema_id: string } }> }).rows;
    expect(rows.length).toBeGreaterThan(5);
    expect(new Set(rows.map((r) => r.doc.rd_schema_id))).toEqual(new Set(['rd.core.schema']));
    expect(JSON.stringify(rows)).not.toContain(rawId);
  });

  it('query of reduce results is refused: they combine every schema', async () => {
    expect(await probe('probe.query-reduce')).toMatchObject({ ok: false, kind: 'capability', message: expect.stringMatching(/reduce: false/) });
  });

  it('attachment of a document the extension was not given and may not open is refused', async () => {
    const result = await probe('probe.attachment');
    expect(result).toMatchObject({ ok: false, kind: 'capability' });
    expect(JSON.stringify(result)).not.toContain('Received:');
  });

  it('attachment of the document it was given is read', async () => {
    expect(got(await probe('probe.own-attachment', rawDoc))).toMatch(/Received:|Return-Path:|From /);
  });

  it('open beyond reads is refused on the host even when the in-isolate check is defeated', async () => {
    const result = await probe('probe.open', rawDoc);
    expect(result).toMatchObject({ ok: false, kind: 'capability' });
    expect(JSON.stringify(result)).not.toContain('rd_schema_items');
  });
});
