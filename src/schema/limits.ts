/** Limits of the schema layer, each with its reason. */
export const schemaLimits = {
  /** A schema definition (JSON text). Real schemas are a few KB; a megabyte-sized one is
   * an attack on ajv's code generator or a mistake, either way refused at load. */
  maxDefinitionBytes: 256 * 1024,
  /** Nesting depth of a definition's JSON. Deep nesting makes ajv generate deeply nested
   * code (stack overflow while compiling), and no real schema needs more than a dozen. */
  maxDefinitionDepth: 64,
  /** Versions one definition may carry: an upgrade chain longer than this is a mistake. */
  maxVersion: 1000,
  /** Documents per batch of `schema migrate`: one _bulk_docs and one sandbox call each. */
  migrateBatchSize: 200,
} as const;
