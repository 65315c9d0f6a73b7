import { RaindropError, errorCodes, silentLogger, type JsonValue, type Logger, type RdKey } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { type ChangesFollower, followChanges } from '../couch/changes-follower.js';
import type { Db } from '../couch/connect.js';
import { listByKeyType } from '../couch/list-by-key-type.js';
import { databaseInfo } from '../couch/database-info.js';
import type { CouchDoc } from '../couch/documents.js';
import { type FullItem, itemContentHash, itemsOf, rebuildDoc, topLevelFields } from '../couch/schema-items/merge.js';
import { type CompiledSchema, type FieldFailure, compileDefinition } from './compile.js';
import type { SchemaDefinition } from './definition.js';
import { UpgradeRunner } from './upgrade-runner.js';

export const schemaSchemaId = 'rd.core.schema';

export interface CheckInput {
  key: RdKey;
  schemaId: string;
  /** The version the fields are written at; default: the current one. */
  schemaVersion?: number;
  fields: Record<string, JsonValue>;
  writer: string;
  /** Extenders may leave out the fields a provider completes. */
  partial?: boolean;
}

export type CheckOutcome =
  | { ok: true; fields: Record<string, JsonValue>; version: number }
  | { ok: false; reason: 'unknown-schema' | 'upgrade' | 'invalid'; message: string; failures: FieldFailure[] };

/**
 * The schemas in force, read from CouchDB (never from disk), each compiled once. A
 * definition that does not compile is refused and the previous version stays in force.
 * With `follow()`, changed definitions are picked up from the changes feed.
 */
export class SchemaRegistry {
  private readonly schemas = new Map<string, CompiledSchema>();
  /** Why a stored definition is not in force, by schema id. */
  readonly problems = new Map<string, string>();
  private readonly upgrades: UpgradeRunner;
  private follower: ChangesFollower | undefined;

  private constructor(private readonly db: Db, private readonly logger: Logger) {
    this.upgrades = new UpgradeRunner(logger);
  }

  static async load(db: Db, options: { logger?: Logger } = {}): Promise<SchemaRegistry> {
    const registry = new SchemaRegistry(db, options.logger ?? silentLogger);
    await registry.reloadAll();
    return registry;
  }

  get(schemaId: string): CompiledSchema | undefined {
    return this.schemas.get(schemaId);
  }

  list(): CompiledSchema[] {
    return [...this.schemas.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Installs a definition read from a stored document; false (and a problem) if refused. */
  accept(def: SchemaDefinition): boolean {
    try {
      const compiled = compileDefinition(def);
      this.schemas.set(def.id, compiled);
      this.problems.delete(def.id);
      this.upgrades.setDefinitions([...this.schemas.values()].map((s) => s.definition));
      return true;
    } catch (err) {
      const message = (err as Error).message;
      this.problems.set(String(def.id), message);
      this.logger.error('schema refused; the previous version stays in force', { schema: def.id, error: message });
      return false;
    }
  }

  /** Upgrades (if older) and validates one writer's fields. */
  async check(input: CheckInput): Promise<CheckOutcome> {
    const [outcome] = await this.checkMany([input]);
    return outcome as CheckOutcome;
  }

  /** Like check, for many items at once (one sandbox call for all upgrades). */
  async checkMany(inputs: readonly CheckInput[]): Promise<CheckOutcome[]> {
    const outcomes: CheckOutcome[] = new Array(inputs.length);
    const upgradeIdx: number[] = [];
    inputs.forEach((input, i) => {
      const schema = this.schemas.get(input.schemaId);
      if (!schema) {
        outcomes[i] = { ok: false, reason: 'unknown-schema', message: `schema "${input.schemaId}" is not installed; add schemas/${input.schemaId}.json and run "raindrop init"`, failures: [] };
      } else if ((input.schemaVersion ?? schema.version) > schema.version) {
        outcomes[i] = { ok: false, reason: 'invalid', message: `${input.writer} wrote ${input.schemaId} at version ${input.schemaVersion}, newer than the installed ${schema.version}; run "raindrop init" with the newer schemas`, failures: [] };
      } else if ((input.schemaVersion ?? schema.version) < schema.version) {
        upgradeIdx.push(i);
      }
    });
    const upgraded = await this.upgrades.upgrade(upgradeIdx.map((i) => {
      const input = inputs[i] as CheckInput;
      return { schemaId: input.schemaId, from: input.schemaVersion as number, to: (this.schemas.get(input.schemaId) as CompiledSchema).version, fields: input.fields };
    }));
    const fieldsOf = new Map<number, Record<string, JsonValue>>();
    upgradeIdx.forEach((i, k) => {
      const result = upgraded[k];
      if (result?.ok) fieldsOf.set(i, result.fields);
      else outcomes[i] = { ok: false, reason: 'upgrade', message: `upgrading ${inputs[i]?.schemaId} from version ${inputs[i]?.schemaVersion} failed: ${result?.message ?? 'no result'}`, failures: [] };
    });
    inputs.forEach((input, i) => {
      if (outcomes[i]) return;
      const schema = this.schemas.get(input.schemaId) as CompiledSchema;
      const fields = fieldsOf.get(i) ?? input.fields;
      const failures = input.partial ? schema.validatePartial(fields) : schema.validate(fields);
      if (!schema.definition.key_types.includes(input.key[0])) {
        failures.unshift({ path: '', message: `the key type "${input.key[0]}" is not one of ${JSON.stringify(schema.definition.key_types)}` });
      }
      outcomes[i] = failures.length === 0
        ? { ok: true, fields, version: schema.version }
        : { ok: false, reason: 'invalid', message: describeFailures(input, schema.version, failures), failures };
    });
    return outcomes;
  }

  /**
   * A stored document at its schema's current version: every writer's fields upgraded
   * step by step. The stored document is not changed (that is `schema migrate`'s job).
   */
  async upgradeDoc(doc: CouchDoc): Promise<CouchDoc> {
    const [result] = await this.upgradeDocs([doc]);
    if (!result || !result.ok) throw new RaindropError(errorCodes.UPGRADE_FAILED, result?.message ?? `upgrading ${doc._id} failed`, { details: { id: doc._id } });
    return result.doc;
  }

  async upgradeDocs(docs: readonly CouchDoc[]): Promise<Array<{ ok: true; doc: CouchDoc; changed: boolean } | { ok: false; message: string }>> {
    const plans = docs.map((doc) => {
      const schema = this.schemas.get(String(doc.rd_schema_id));
      const items = itemsOf(doc);
      const stale = schema ? [...items.entries()].filter(([, item]) => (item.schema_version ?? 1) < schema.version) : [];
      return { doc, schema, items, stale };
    });
    const requests = plans.flatMap((p) => p.stale.map(([, item]) => ({ schemaId: p.schema?.id ?? '', from: item.schema_version ?? 1, to: p.schema?.version ?? 1, fields: item.fields })));
    const results = await this.upgrades.upgrade(requests);
    let k = 0;
    return plans.map((plan) => {
      if (!plan.schema || plan.stale.length === 0) {
        k += plan.stale.length;
        return { ok: true as const, doc: plan.doc, changed: false };
      }
      for (const [writer, item] of plan.stale) {
        const result = results[k++];
        if (!result?.ok) return { ok: false as const, message: `upgrading ${plan.doc._id} (writer ${writer}) from version ${item.schema_version ?? 1}: ${result?.message ?? 'no result'}` };
        const upgraded: FullItem = { ...item, fields: result.fields, schema_version: plan.schema.version };
        upgraded.content_hash = itemContentHash(upgraded, result.fields);
        plan.items.set(writer, upgraded);
      }
      return { ok: true as const, doc: rebuildDoc(plan.doc, plan.items, plan.schema.version), changed: true };
    });
  }

  /** Follows the changes feed and reloads definitions that change. */
  follow(): void {
    if (this.follower) return;
    this.follower = followChanges(this.db, {
      until: 'forever',
      since: this.loadedAt ?? 'now',
      logger: this.logger,
      onBatch: async (batch) => {
        const ids = batch.rows.filter((r) => r.id.endsWith(`!${schemaSchemaId}`) && !r.deleted).map((r) => r.id);
        if (ids.length === 0) return;
        for (const doc of (await bulkGet(this.db, ids)).values()) this.accept(definitionOf(doc));
      },
    });
  }

  async close(): Promise<void> {
    await this.follower?.stop();
    this.follower = undefined;
    await this.upgrades.close();
  }

  private loadedAt: string | number | undefined;

  private async reloadAll(): Promise<void> {
    // The feed position first, then the documents: a change in between is seen twice
    // (harmless), never missed.
    this.loadedAt = (await databaseInfo(this.db))?.updateSeq;
    for (const doc of await listByKeyType(this.db, 'schema', schemaSchemaId)) this.accept(definitionOf(doc));
  }
}

/** The definition held by an rd.core.schema document (its aggregated fields). */
export function definitionOf(doc: CouchDoc): SchemaDefinition {
  return topLevelFields(doc) as unknown as SchemaDefinition;
}

function describeFailures(input: CheckInput, version: number, failures: FieldFailure[]): string {
  const list = failures.slice(0, 10).map((f) => `${f.path || '(item)'} ${f.message}`).join('; ');
  return `${input.writer} wrote an invalid ${input.schemaId} (v${version}): ${list}${failures.length > 10 ? `; and ${failures.length - 10} more` : ''}`;
}
