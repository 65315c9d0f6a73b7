import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { writeSchemaItem } from '../../src/couch/schema-items/write-schema-item.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { compileDefinition } from '../../src/schema/compile.js';
import type { SchemaDefinition } from '../../src/schema/definition.js';
import { migrateSchemas } from '../../src/schema/migrate.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('schemas');
let dir: string;

const personV1: SchemaDefinition = {
  id: 'rd.test.person',
  version: 1,
  description: 'A person, version 1: one name field.',
  key_types: ['identity'],
  json_schema: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, age: { type: 'integer', minimum: 0 } } },
  examples: { '1': [{ name: 'Ada Lovelace', age: 36 }] },
};
const v2Schema = { type: 'object', required: ['first', 'last'], additionalProperties: false, properties: { first: { type: 'string' }, last: { type: 'string' }, age: { type: 'integer' } } };
const personV3: SchemaDefinition = {
  ...personV1,
  version: 3,
  description: 'A person, version 3: first and last name, and a display name.',
  json_schema: { type: 'object', required: ['first', 'last', 'display'], additionalProperties: false, properties: { first: { type: 'string' }, last: { type: 'string' }, display: { type: 'string' }, age: { type: 'integer' } } },
  upgrades: {
    '1': "function (f) { if (f.name === 'BREAK') throw new Error('cannot split ' + f.name); const [first, ...rest] = f.name.split(' '); const out = { first, last: rest.join(' ') }; if (f.age !== undefined) out.age = f.age; return out; }",
    '2': "(f) => ({ ...f, display: (f.first + ' ' + f.last).trim() })",
  },
  previous_json_schemas: { '1': personV1.json_schema, '2': v2Schema },
  examples: { '1': [{ name: 'Ada Lovelace', age: 36 }, { name: 'Plato' }], '2': [{ first: 'Alan', last: 'Turing' }], '3': [{ first: 'G', last: 'H', display: 'G H' }] },
};

async function installFrom(defs: SchemaDefinition[]) {
  const target = await mkdtemp(join(dir, 'set-'));
  for (const def of defs) await writeFile(join(target, `${def.id}.json`), JSON.stringify(def));
  // The meta-schema comes along so definitions are checked against it.
  await writeFile(join(target, 'rd.core.schema.json'), JSON.stringify((await import(join(builtInSchemaDir(), 'rd.core.schema.json'), { with: { type: 'json' } })).default));
  return installSchemas(t.db, target);
}

const person = (name: string, fields: Record<string, unknown>, version?: number) => ({
  key: ['identity', name] as const,
  schemaId: 'rd.test.person',
  writer: 'test.writer',
  category: 'provider' as const,
  source: null,
  fields: fields as Record<string, never>,
  ...(version === undefined ? {} : { schemaVersion: version }),
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raindrop-schemas-'));
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  const core = await installSchemas(t.db, builtInSchemaDir());
  expect(core.refused).toEqual([]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('schemas in CouchDB', () => {
  it('installs the core schemas, and the registry reads them from the database', async () => {
    const registry = await SchemaRegistry.load(t.db);
    try {
      expect(registry.list().map((s) => `${s.id}@${s.version}`)).toEqual(expect.arrayContaining(['rd.core.schema@1', 'rd.ext.workqueue@1', 'rd.core.error@1', 'rd.core.workqueue-state@1', 'rd.account@1', 'rd.msg.rfc822@1']));
    } finally {
      await registry.close();
    }
  });

  it('refuses an invalid item, naming schema, version, writer and every failing path', async () => {
    const registry = await SchemaRegistry.load(t.db);
    try {
      const input = { key: ['account', 'work'] as const, schemaId: 'rd.account', writer: 'cli.account', category: 'provider' as const, source: null, fields: { name: '', protocol: 'gopher', username: 7, identities: [['email', 'not-an-address']], password: 'hunter2' } as never };
      const error = (await writeValidatedItem(registry, t.db, input).catch((e: unknown) => e)) as Error & { code: string; details: { failures: Array<{ path: string }> } };
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(error?.message).toMatch(/cli\.account wrote an invalid rd\.account \(v1\)/);
      expect(error?.details.failures.map((f) => f.path).sort()).toEqual(['', '/identities/0/1', '/name', '/protocol', '/username']);
      expect(error?.message).toMatch(/password/);
      expect(await getDoc(t.db, docIdFor(['account', 'work'], 'rd.account'))).toBeUndefined();
      await expect(writeValidatedItem(registry, t.db, { ...input, schemaId: 'rd.nope' })).rejects.toMatchObject({ code: 'SCHEMA_UNKNOWN' });
      await expect(writeValidatedItem(registry, t.db, { ...input, key: ['email', 'x'], fields: { name: 'w', protocol: 'imap', username: 'u', identities: [] } as never })).rejects.toThrow(/key type "email"/);
    } finally {
      await registry.close();
    }
  });

  it('upgrades through a three-version chain on read, on write and in bulk', async () => {
    expect((await installFrom([personV1])).refused).toEqual([]);
    let registry = await SchemaRegistry.load(t.db);
    for (const [name, age] of [['Ada Lovelace', 36], ['Grace Brewster Hopper', 85], ['Plato', undefined]] as const) {
      await writeValidatedItem(registry, t.db, person(name, age === undefined ? { name } : { name, age }));
    }
    await writeValidatedItem(registry, t.db, person('broken', { name: 'BREAK' }));
    await registry.close();

    expect((await installFrom([personV3])).refused).toEqual([]);
    registry = await SchemaRegistry.load(t.db);
    try {
      expect(registry.get('rd.test.person')?.version).toBe(3);
      // Read: an old document comes back at version 3; the stored one is untouched.
      const id = docIdFor(['identity', 'Grace Brewster Hopper'], 'rd.test.person');
      const stored = await getDoc(t.db, id);
      const read = await registry.upgradeDoc(stored!);
      expect(read).toMatchObject({ rd_schema_version: 3, first: 'Grace', last: 'Brewster Hopper', display: 'Grace Brewster Hopper', age: 85 });
      expect(read).not.toHaveProperty('name');
      expect((await getDoc(t.db, id))?.rd_schema_version).toBe(1);
      // Write: a writer still producing version 1 is upgraded before validation.
      await writeValidatedItem(registry, t.db, person('Alan Turing', { name: 'Alan Turing' }, 1));
      expect(await getDoc(t.db, docIdFor(['identity', 'Alan Turing'], 'rd.test.person'))).toMatchObject({ rd_schema_version: 3, display: 'Alan Turing' });
      // Bulk: migrate rewrites what it can, names what it cannot, and is resumable.
      const first = await migrateSchemas(registry, t.db, ['rd.test.person']);
      expect(first.progress[0]).toMatchObject({ scanned: 5, upgraded: 3, failed: 1 });
      expect(first.failures).toEqual([{ id: docIdFor(['identity', 'broken'], 'rd.test.person'), message: expect.stringMatching(/upgrade step 1 -> 2 of rd\.test\.person failed: cannot split BREAK/) }]);
      expect(await getDoc(t.db, docIdFor(['identity', 'broken'], 'rd.test.person'))).toMatchObject({ rd_schema_version: 1, name: 'BREAK' });
      expect(await getDoc(t.db, id)).toMatchObject({ rd_schema_version: 3, display: 'Grace Brewster Hopper' });
      const second = await migrateSchemas(registry, t.db, ['rd.test.person']);
      expect(second.progress[0]).toMatchObject({ upgraded: 0, failed: 1 });
      // After migration the same write by the same writer is recognised as unchanged.
      const again = await writeValidatedItem(registry, t.db, person('Ada Lovelace', { name: 'Ada Lovelace', age: 36 }, 1));
      expect(again.written).toBe(false);
    } finally {
      await registry.close();
    }
  });

  it('refuses a new version whose upgrade breaks its examples, keeping the old one in force', async () => {
    const wrong: SchemaDefinition = { ...personV1, id: 'rd.test.pet', version: 2, description: 'A pet.', json_schema: { type: 'object', required: ['nick'], properties: { nick: { type: 'string' } } }, upgrades: { '1': '(f) => ({ nickname: f.name })' }, previous_json_schemas: { '1': personV1.json_schema } };
    expect((await installFrom([{ ...personV1, id: 'rd.test.pet', description: 'A pet.' }])).refused).toEqual([]);
    const report = await installFrom([wrong]);
    expect(report.refused).toEqual([{ id: 'rd.test.pet', problems: [expect.stringMatching(/example 1 of version 1, upgraded to version 2, is not valid: \(item\) must have required property 'nick'/)] }]);
    const registry = await SchemaRegistry.load(t.db);
    expect(registry.get('rd.test.pet')?.version).toBe(1);
    await registry.close();
  });

  it('refuses hostile schemas at load: enormous, deeply nested, catastrophic pattern, $data', () => {
    const base = { ...personV1, id: 'rd.test.hostile' };
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 100; i++) deep = { type: 'object', properties: { x: deep } };
    const cases: Array<[string, SchemaDefinition, RegExp]> = [
      ['enormous', { ...base, json_schema: { type: 'object', properties: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`field_${i}`, { type: 'string', maxLength: i }])) } }, /bytes; the limit is/],
      ['deep', { ...base, json_schema: deep }, /nested more than 64 levels/],
      ['redos', { ...base, json_schema: { type: 'object', properties: { x: { type: 'string', pattern: '^(a+)+$' } } } }, /exponential time/],
      ['redos in patternProperties', { ...base, json_schema: { type: 'object', patternProperties: { '(a*)*b': {} } } }, /exponential time/],
      ['$data', { ...base, json_schema: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer', maximum: { $data: '1/a' } } } } }, /does not compile/],
      ['unknown keyword', { ...base, json_schema: { type: 'object', requierd: ['x'] } }, /does not compile.*requierd/],
      ['not JSON Schema', { ...base, json_schema: { type: 'object', required: 'name' } }, /does not compile: schema is invalid: data\/required must be array/],
      ['not JSON Schema in an older version', { ...base, previous_json_schemas: { 1: { type: 'object', minProperties: -1 } } }, /v1 does not compile: schema is invalid/],
    ];
    for (const [name, def, message] of cases) {
      expect(() => compileDefinition(def), name).toThrow(message);
    }
  });

  it('hot-reloads a changed schema while another process writes, refusing a broken one', async () => {
    await installFrom([{ ...personV1, id: 'rd.test.live', description: 'Live.' }]);
    const registry = await SchemaRegistry.load(t.db);
    registry.follow();
    try {
      let stop = false;
      let written = 0;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          await writeValidatedItem(registry, t.db, { ...person(`live ${i}`, { name: `live ${i}` }), schemaId: 'rd.test.live' });
          written++;
        }
      })();
      // Another process installs v2 (a superset: name stays valid, nickname is new).
      const v2: SchemaDefinition = { ...personV1, id: 'rd.test.live', description: 'Live v2.', version: 2, json_schema: { ...personV1.json_schema, properties: { ...(personV1.json_schema.properties as object), nickname: { type: 'string' } } }, upgrades: { '1': '(f) => f' }, previous_json_schemas: { '1': personV1.json_schema } };
      expect((await installFrom([v2])).refused).toEqual([]);
      const deadline = Date.now() + 20_000;
      while (registry.get('rd.test.live')?.version !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      stop = true;
      await writer;
      expect(registry.get('rd.test.live')?.version).toBe(2);
      expect(written).toBeGreaterThan(0);
      await writeValidatedItem(registry, t.db, { ...person('nick', { name: 'n', nickname: 'x' }), schemaId: 'rd.test.live' });
      // A definition written straight into the database that does not compile is refused;
      // v2 stays in force.
      await writeSchemaItem(t.db, { key: ['schema', 'rd.test.live'], schemaId: 'rd.core.schema', writer: 'core.init', category: 'provider', source: null, fields: { ...v2, version: 3, json_schema: { type: 'nonsense' } } as never });
      const until = Date.now() + 20_000;
      while (!registry.problems.has('rd.test.live') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(registry.problems.get('rd.test.live')).toMatch(/does not compile/);
      expect(registry.get('rd.test.live')?.version).toBe(2);
    } finally {
      await registry.close();
    }
  });
});
