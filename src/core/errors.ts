/**
 * The one error type of Raindrop. Every failure that reaches a caller carries a stable
 * `code` (scripts and tests match on it, never on the message), a message that tells the
 * user what to do, and the underlying `cause` when there is one.
 */

export const errorCodes = {
  /** A value is not valid JSON data (undefined, a function, NaN, a cycle...). */
  NOT_JSON: 'NOT_JSON',
  /** A key is not a `[type, value]` pair with a valid type. */
  INVALID_KEY: 'INVALID_KEY',
  /** A schema id is not dot-separated lower-case words. */
  INVALID_SCHEMA_ID: 'INVALID_SCHEMA_ID',
  /** A document id is not one Raindrop computes. */
  INVALID_DOC_ID: 'INVALID_DOC_ID',
  /** A writer's contribution is malformed (bad writer id, confidence, attachment name). */
  INVALID_ITEM: 'INVALID_ITEM',
  /** The CouchDB server could not be reached (refused, DNS, reset, timeout). */
  COUCH_UNREACHABLE: 'COUCH_UNREACHABLE',
  /** The server refused the credentials (401) or the user lacks rights (403). */
  COUCH_AUTH: 'COUCH_AUTH',
  /** The server answered with an unexpected HTTP status. */
  COUCH_HTTP: 'COUCH_HTTP',
  /** Writes kept conflicting after every retry. */
  COUCH_CONFLICT: 'COUCH_CONFLICT',
  /** The embedded server could not be started. */
  EMBEDDED_START: 'EMBEDDED_START',
  /** Another process owns the embedded server's data directory. */
  EMBEDDED_LOCKED: 'EMBEDDED_LOCKED',
  /** No server is configured or running where one is needed. */
  NO_SERVER: 'NO_SERVER',
  /** The configuration (file, environment, flags) is invalid. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** The command line is invalid. */
  USAGE: 'USAGE',
  /** The extension sandbox (isolated-vm) cannot be loaded or started. */
  SANDBOX_UNAVAILABLE: 'SANDBOX_UNAVAILABLE',
  /** An extension file is invalid (syntax, declaration) or unknown. */
  EXTENSION_INVALID: 'EXTENSION_INVALID',
  /** A schema definition is invalid, unsafe, or its upgrades do not hold on its examples. */
  SCHEMA_INVALID: 'SCHEMA_INVALID',
  /** A schema the caller needs is not installed. */
  SCHEMA_UNKNOWN: 'SCHEMA_UNKNOWN',
  /** A document or item does not validate against its schema. */
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  /** An upgrade function failed on a document. */
  UPGRADE_FAILED: 'UPGRADE_FAILED',
  /** An operation was stopped because its owner shut down. */
  ABORTED: 'ABORTED',
  /** A compiled file a child process needs is missing: the project was not built. */
  NOT_BUILT: 'NOT_BUILT',
  /** An account name is not configured (or already exists, for `account add`). */
  ACCOUNT_UNKNOWN: 'ACCOUNT_UNKNOWN',
  /** A mail server could not be reached: DNS, refused, reset, network unreachable. */
  MAIL_UNREACHABLE: 'MAIL_UNREACHABLE',
  /** A mail server did not answer in time (connect, greeting or a command). */
  MAIL_TIMEOUT: 'MAIL_TIMEOUT',
  /** TLS failed with a mail server (handshake, certificate, STARTTLS not offered). */
  MAIL_TLS: 'MAIL_TLS',
  /** A mail server refused the login (user name or password). */
  MAIL_AUTH: 'MAIL_AUTH',
  /** A mail server answered something unexpected (NO/BAD, a folder that vanished). */
  MAIL_PROTOCOL: 'MAIL_PROTOCOL',
  /** A search query cannot be parsed; details.fault names what is wrong. */
  SEARCH_QUERY_INVALID: 'SEARCH_QUERY_INVALID',
  /** The search index cannot be opened (no SQLite binding, a damaged index file). */
  SEARCH_UNAVAILABLE: 'SEARCH_UNAVAILABLE',
  /** Workers ("raindrop worker") are processing this database: the single-process queue
   * would do their work a second time. */
  WORKERS_RUNNING: 'WORKERS_RUNNING',
} as const;

export type ErrorCode = (typeof errorCodes)[keyof typeof errorCodes];

export interface RaindropErrorOptions {
  cause?: unknown;
  /** HTTP status, when the error came from a server. */
  status?: number;
  /** Extra data for logs and `--json` output; never secrets. */
  details?: Record<string, unknown>;
}

export class RaindropError extends Error {
  override readonly name = 'RaindropError';
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: RaindropErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      error: this.code,
      message: this.message,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isRaindropError(value: unknown, code?: ErrorCode): value is RaindropError {
  return value instanceof RaindropError && (code === undefined || value.code === code);
}
