import { errorCodes, type ErrorCode } from '../core/index.js';

/** Stable exit codes: scripts may rely on them. */
export const exitCodes = {
  ok: 0,
  /** Something failed that has no more specific code. */
  failure: 1,
  /** The command line is wrong (unknown command or option, missing argument). */
  usage: 2,
  /** The configuration (file, environment) is invalid. */
  config: 3,
  /** CouchDB could not be reached. */
  unreachable: 4,
  /** CouchDB refused the credentials or the rights. */
  auth: 5,
  /** No server is configured or running where one is needed (`raindrop url`). */
  noServer: 6,
  /** The data directory belongs to another running process, or workers are processing
   * the database (`process`, and `serve` without --worker). */
  locked: 7,
  /** A check failed (`raindrop doctor`). */
  checkFailed: 8,
  /** An extension file is invalid (`ext check`, or refused by `init`). */
  extensionInvalid: 9,
  /** A schema was refused (`init`) or a document does not validate (`schema check`). */
  schemaInvalid: 10,
  /** A mail server could not be reached or did not answer in time (DNS, refused, TLS, timeout). */
  mailUnreachable: 11,
  /** A mail server refused the login. */
  mailAuth: 12,
  /** Stopped by Ctrl-C or SIGTERM before the work was done (the shell's 128 + SIGINT);
   * what was committed stays, and running the command again goes on from there. */
  interrupted: 130,
} as const;

export function exitCodeFor(code: ErrorCode | undefined): number {
  switch (code) {
    case errorCodes.USAGE:
    case errorCodes.SEARCH_QUERY_INVALID:
      return exitCodes.usage;
    case errorCodes.CONFIG_INVALID:
      return exitCodes.config;
    case errorCodes.COUCH_UNREACHABLE:
      return exitCodes.unreachable;
    case errorCodes.COUCH_AUTH:
      return exitCodes.auth;
    case errorCodes.NO_SERVER:
      return exitCodes.noServer;
    case errorCodes.WORKERS_RUNNING:
    case errorCodes.EMBEDDED_LOCKED:
      return exitCodes.locked;
    case errorCodes.EXTENSION_INVALID:
      return exitCodes.extensionInvalid;
    case errorCodes.SCHEMA_INVALID:
    case errorCodes.SCHEMA_UNKNOWN:
    case errorCodes.VALIDATION_FAILED:
    case errorCodes.UPGRADE_FAILED:
      return exitCodes.schemaInvalid;
    case errorCodes.MAIL_UNREACHABLE:
    case errorCodes.MAIL_TIMEOUT:
    case errorCodes.MAIL_TLS:
      return exitCodes.mailUnreachable;
    case errorCodes.MAIL_AUTH:
      return exitCodes.mailAuth;
    case errorCodes.ACCOUNT_UNKNOWN:
      return exitCodes.config;
    default:
      return exitCodes.failure;
  }
}
