import { randomBytes } from 'node:crypto';
import type { JsonValue } from '../src/core/index.js';
import { compileDefinition } from '../src/schema/compile.js';
import type { SchemaDefinition } from '../src/schema/definition.js';
import { UpgradeRunner } from '../src/schema/upgrade-runner.js';
import type { Benchmark, Measurement } from './harness.js';
import { median } from './harness.js';

/** A medium schema, about the size of a parsed e-mail's: nested objects, arrays of
 * address objects, formats, enums, patterns. */
const address = { type: 'object', required: ['address'], additionalProperties: false, properties: { name: { type: 'string' }, address: { type: 'string', format: 'email' } } };
const medium: SchemaDefinition = {
  id: 'bench.email',
  version: 2,
  description: 'Benchmark schema.',
  key_types: ['email'],
  json_schema: {
    type: 'object',
    required: ['message_id', 'from', 'to', 'subject', 'date', 'parts'],
    additionalProperties: false,
    properties: {
      message_id: { type: 'string', minLength: 1 },
      from: address,
      to: { type: 'array', items: address, maxItems: 1000 },
      cc: { type: 'array', items: address },
      subject: { type: 'string' },
      date: { type: 'string', format: 'date-time' },
      references: { type: 'array', items: { type: 'string' } },
      list_id: { type: ['string', 'null'] },
      flags: { type: 'array', items: { enum: ['seen', 'flagged', 'answered', 'draft'] } },
      parts: {
        type: 'array',
        items: { type: 'object', required: ['content_type', 'size'], properties: { content_type: { type: 'string', pattern: '^[a-z]+/[a-z0-9.+-]+$' }, charset: { type: 'string' }, size: { type: 'integer', minimum: 0 }, filename: { type: 'string' } } },
      },
      body_preview: { type: 'string', maxLength: 4096 },
    },
  },
  upgrades: { '1': '(f) => { const { sender, ...rest } = f; return { ...rest, from: sender }; }' },
};

function docFields(i: number): Record<string, JsonValue> {
  return {
    message_id: `<${i}.${randomBytes(6).toString('hex')}@example.org>`,
    from: { name: 'Ann Example', address: 'ann@example.org' },
    to: [{ name: 'Bob', address: 'bob@example.org' }, { address: 'list@lists.example.org' }],
    cc: [{ name: 'Carol', address: 'carol@example.org' }],
    subject: `Re: [list] the quarterly numbers, take ${i}`,
    date: '2024-03-05T10:11:12Z',
    references: Array.from({ length: 6 }, (_, k) => `<ref${k}.${i}@example.org>`),
    list_id: 'list.example.org',
    flags: ['seen'],
    parts: [{ content_type: 'text/plain', charset: 'utf-8', size: 1200 }, { content_type: 'text/html', charset: 'utf-8', size: 4000 }, { content_type: 'application/pdf', size: 80000, filename: 'numbers.pdf' }],
    body_preview: 'x'.repeat(1300), // brings the document to about 2 KB
  };
}

/** Validations per second of ~2 KB documents, and the cost of a one-step upgrade (which
 * runs in the sandbox) relative to validation. */
export function schemaBenchmark(): Benchmark {
  return {
    name: 'schema',
    async run(ctx) {
      const schema = compileDefinition(medium);
      const docs = Array.from({ length: 5000 }, (_, i) => docFields(i));
      const size = Buffer.byteLength(JSON.stringify(docs[0]));
      if (schema.validate(docs[0]).length !== 0) throw new Error('benchmark document does not validate');
      const rates: number[] = [];
      for (let round = 0; round < 5; round++) {
        const start = performance.now();
        for (const d of docs) if (schema.validate(d).length !== 0) throw new Error('invalid');
        rates.push(docs.length / ((performance.now() - start) / 1000));
      }
      const runner = new UpgradeRunner();
      runner.setDefinitions([medium]);
      const upgradeRates: number[] = [];
      try {
        const old = docs.slice(0, 2000).map(({ from, ...rest }) => ({ ...rest, sender: from }) as Record<string, JsonValue>);
        await runner.upgrade(old.slice(0, 10).map((fields) => ({ schemaId: medium.id, from: 1, to: 2, fields }))); // warm-up: starts the pool
        for (let round = 0; round < 3; round++) {
          const start = performance.now();
          const results = await runner.upgrade(old.map((fields) => ({ schemaId: medium.id, from: 1, to: 2, fields })));
          upgradeRates.push(old.length / ((performance.now() - start) / 1000));
          if (!results.every((r) => r.ok && schema.validate(r.fields).length === 0)) throw new Error('an upgrade failed');
        }
      } finally {
        await runner.close();
      }
      const validate = median(rates);
      const upgrade = median(upgradeRates);
      ctx.log(`validate ${Math.round(validate)}/s, upgrade ${Math.round(upgrade)}/s`);
      const ceiling = ctx.results.get('couch.bulk_docs.write');
      const out: Measurement[] = [
        { name: 'schema.validate', value: validate, unit: 'docs/s', notes: `${size} B documents, medium schema, median of 5` },
        { name: 'schema.upgrade.one-step', value: upgrade, unit: 'docs/s', notes: 'batches of 2000 through the sandbox, median of 3' },
        { name: 'schema.upgrade.cost', value: validate / upgrade, unit: '×', ratioOf: 'one validation', notes: 'time of one upgrade in validations' },
      ];
      if (ceiling) out.push({ name: 'schema.validate.vs-write-ceiling', value: validate / ceiling.value, unit: '×', ratioOf: 'couch.bulk_docs.write' });
      return out;
    },
  };
}
