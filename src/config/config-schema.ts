import type { LogLevel } from '../core/index.js';

/** The validated configuration every other layer receives. Nothing else reads the
 * environment or the config file. */
export interface RaindropConfig {
  /** CouchDB URL (may hold credentials); undefined means the embedded server. */
  couchUrl: string | undefined;
  db: string;
  dataDir: string;
  configFile: string;
  /** Port `raindrop serve` binds the embedded server to. */
  port: number;
  logLevel: LogLevel;
  /** The user's extension directories (the built-in one is always used too). */
  extensions: string[];
}

/** What the config file may hold. Account sections come with the accounts issue. */
export const configFileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    couchUrl: { type: 'string', pattern: '^https?://' },
    db: { $ref: '#/$defs/dbName' },
    dataDir: { type: 'string', minLength: 1 },
    port: { $ref: '#/$defs/port' },
    logLevel: { enum: ['debug', 'info', 'warn', 'error', 'silent'] },
    extensions: { type: 'array', items: { type: 'string', minLength: 1 } },
  },
  $defs: {
    // CouchDB's own rule for database names.
    dbName: { type: 'string', pattern: '^[a-z][a-z0-9_$()+/-]*$', maxLength: 238 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
  },
} as const;

/** Default port of `raindrop serve`: next to CouchDB's 5984, so it is easy to remember,
 * but not on it, so a local CouchDB and Raindrop can run side by side. */
export const defaultServePort = 5994;
export const defaultDbName = 'raindrop';
