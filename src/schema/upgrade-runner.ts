import { RaindropError, errorCodes, sha256Hex, type JsonValue, type Logger } from '../core/index.js';
import { type SandboxPool, startSandboxPool } from '../sandbox/pool.js';
import type { HostServices } from '../sandbox/types.js';
import type { SchemaDefinition } from './definition.js';

export interface UpgradeRequest {
  schemaId: string;
  from: number;
  to: number;
  fields: Record<string, JsonValue>;
}

export type UpgradeOutcome = { ok: true; fields: Record<string, JsonValue> } | { ok: false; message: string };

const upgraderId = 'rd.core.upgrader';
const noHost: HostServices = {
  open: async () => [],
  attachment: async () => null,
  query: async () => ({ rows: [] }),
  myIdentities: async () => [],
};

/**
 * Upgrade functions are code from the database, so they run in the sandbox, as one
 * generated extension holding every schema's chain. The pool is built on first use and
 * rebuilt when the set of upgrade functions changes.
 */
export class UpgradeRunner {
  private pool: SandboxPool | undefined;
  private poolHash = '';
  private source = '';

  constructor(private readonly logger?: Logger) {}

  /** Installs the chains of these definitions; cheap when nothing changed. */
  setDefinitions(defs: Iterable<SchemaDefinition>): void {
    const chains: string[] = [];
    for (const def of [...defs].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const steps = Object.entries(def.upgrades ?? {}).map(([v, fn]) => `${Number(v)}: (${fn})`);
      if (steps.length > 0) chains.push(`${JSON.stringify(def.id)}: {${steps.join(',\n')}}`);
    }
    this.source = generatedExtension(chains.join(',\n'));
  }

  async upgrade(requests: readonly UpgradeRequest[]): Promise<UpgradeOutcome[]> {
    if (requests.length === 0) return [];
    const pool = await this.ensurePool();
    const docs = requests.map((r, n) => ({ _id: `upgrade-${n}`, rd_key: ['upgrade', n], rd_schema_id: 'rd.core.upgrade-request', schema_id: r.schemaId, from: r.from, to: r.to, fields: r.fields }));
    const results = await pool.run(upgraderId, docs, noHost);
    return results.map((r) => (r.ok ? { ok: true, fields: (r.emits[0]?.fields ?? {}) } : { ok: false, message: r.message }));
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }

  private async ensurePool(): Promise<SandboxPool> {
    const hash = sha256Hex(this.source);
    if (this.pool && hash === this.poolHash) return this.pool;
    await this.pool?.close();
    this.pool = await startSandboxPool({ sources: [{ origin: 'schema upgrades', code: this.source }], size: 1, ...(this.logger ? { logger: this.logger } : {}) });
    this.poolHash = hash;
    const loaded = this.pool.extensions[0];
    if (!loaded?.declaration) {
      const problems = loaded?.problems.join('; ') ?? 'it did not load';
      await this.close();
      throw new RaindropError(errorCodes.SCHEMA_INVALID, `the schemas' upgrade functions do not compile: ${problems}`);
    }
    return this.pool;
  }
}

function generatedExtension(chains: string): string {
  return `const chains = {\n${chains}\n};
const describe = (v) => v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
export default {
  id: '${upgraderId}',
  source_schemas: ['rd.core.upgrade-request'],
  emits: ['rd.core.upgrade-result'],
  handler(doc, rd) {
    const chain = chains[doc.schema_id] || {};
    let fields = doc.fields;
    for (let v = doc.from; v < doc.to; v++) {
      const step = chain[v];
      if (typeof step !== 'function') throw new Error('schema ' + doc.schema_id + ' has no upgrade from version ' + v + ' to ' + (v + 1));
      try {
        fields = step(JSON.parse(JSON.stringify(fields)));
      } catch (e) {
        throw new Error('upgrade step ' + v + ' -> ' + (v + 1) + ' of ' + doc.schema_id + ' failed: ' + (e && e.message ? e.message : String(e)));
      }
      if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
        throw new Error('upgrade step ' + v + ' -> ' + (v + 1) + ' of ' + doc.schema_id + ' returned ' + describe(fields) + ' instead of an object of fields');
      }
    }
    rd.emit('rd.core.upgrade-result', fields, { key: ['upgrade', doc.rd_key[1]] });
  },
};`;
}
