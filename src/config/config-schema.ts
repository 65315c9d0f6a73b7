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
  /** Mail accounts by name, with their secret resolved (file or environment). */
  accounts: Record<string, AccountSettings>;
}

export type TlsMode = 'auto' | 'implicit' | 'starttls' | 'none';

/** One account as the config file holds it (`accounts.<name>`). */
export interface AccountFileEntry {
  protocol: 'imap';
  host: string;
  port?: number;
  tls?: TlsMode;
  user: string;
  /** The secret itself (the file is mode 0600). */
  password?: string;
  /** Name of an environment variable holding the secret. */
  passwordEnv?: string;
  /** A file holding the secret (read when connecting). */
  passwordFile?: string;
  folders?: string[];
  excludeFolders?: string[];
  identities?: string[];
  /** Outgoing mail; absent means the account cannot send. */
  smtp?: SmtpFileEntry;
}

export type SmtpTlsMode = 'implicit' | 'starttls' | 'none';

/** `accounts.<name>.smtp` in the config file. Credentials absent here are the IMAP ones. */
export interface SmtpFileEntry {
  host: string;
  port?: number;
  tls?: SmtpTlsMode;
  user?: string;
  password?: string;
  passwordEnv?: string;
  passwordFile?: string;
  /** A PEM file of certificate authorities to trust besides the system's (a self-hosted
   * server with its own CA). */
  caFile?: string;
  /** Append the sent bytes to the Sent folder over IMAP (default true); false for servers
   * that file sent mail themselves (Gmail, Outlook.com). */
  saveSent?: boolean;
}

/** An account's SMTP settings with defaults applied; the secret source as for IMAP. */
export interface SmtpSettings {
  host: string;
  port: number;
  tls: SmtpTlsMode;
  user: string;
  /** True when user and secret are the IMAP ones. */
  sharedCredentials: boolean;
  password: string | undefined;
  passwordFile: string | undefined;
  passwordEnv: string | undefined;
  caFile: string | undefined;
  saveSent: boolean;
}

/** An account as the rest of the code sees it: the secret source resolved where it can be. */
export interface AccountSettings {
  name: string;
  protocol: 'imap';
  host: string;
  port: number;
  tls: TlsMode;
  user: string;
  /** From the file or from `passwordEnv`; undefined when it comes from `passwordFile`
   * (read at connect time) or is missing. */
  password: string | undefined;
  passwordFile: string | undefined;
  /** Set when the secret should come from this variable (for messages: the name only). */
  passwordEnv: string | undefined;
  folders: string[];
  excludeFolders: string[];
  identities: string[];
  /** Undefined when the account has no SMTP settings (it cannot send). */
  smtp?: SmtpSettings | undefined;
}

/** Account names become parts of writer ids and keys: keep them simple. */
export const accountNamePattern = '^[a-z0-9][a-z0-9_-]{0,62}$';

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
    accounts: {
      type: 'object',
      propertyNames: { pattern: accountNamePattern },
      additionalProperties: { $ref: '#/$defs/account' },
    },
  },
  $defs: {
    account: {
      type: 'object',
      additionalProperties: false,
      required: ['protocol', 'host', 'user'],
      properties: {
        protocol: { const: 'imap' },
        host: { type: 'string', minLength: 1 },
        port: { $ref: '#/$defs/port' },
        tls: { enum: ['auto', 'implicit', 'starttls', 'none'] },
        user: { type: 'string', minLength: 1 },
        password: { type: 'string' },
        passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        passwordFile: { type: 'string', minLength: 1 },
        folders: { type: 'array', items: { type: 'string', minLength: 1 } },
        excludeFolders: { type: 'array', items: { type: 'string', minLength: 1 } },
        identities: { type: 'array', items: { type: 'string', minLength: 3 } },
        smtp: { $ref: '#/$defs/smtp' },
      },
    },
    smtp: {
      type: 'object',
      additionalProperties: false,
      required: ['host'],
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { $ref: '#/$defs/port' },
        tls: { enum: ['implicit', 'starttls', 'none'] },
        user: { type: 'string', minLength: 1 },
        password: { type: 'string' },
        passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        passwordFile: { type: 'string', minLength: 1 },
        caFile: { type: 'string', minLength: 1 },
        saveSent: { type: 'boolean' },
      },
    },
    // CouchDB's own rule for database names.
    dbName: { type: 'string', pattern: '^[a-z][a-z0-9_$()+/-]*$', maxLength: 238 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
  },
} as const;

/** Default port of `raindrop serve`: next to CouchDB's 5984, so it is easy to remember,
 * but not on it, so a local CouchDB and Raindrop can run side by side. */
export const defaultServePort = 5994;
export const defaultDbName = 'raindrop';
/** Default port of the web app `raindrop serve` opens (the app and the CouchDB API on one
 * origin): next to the embedded server's. */
export const defaultAppPort = 5995;
