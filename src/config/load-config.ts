import { readFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import envPaths from 'env-paths';
import { RaindropError, errorCodes, type LogLevel } from '../core/index.js';
import { projectRoot } from '../core/entry-points.js';
import { type AccountFileEntry, type AccountSettings, type RaindropConfig, type SmtpSettings, configFileSchema, defaultDbName, defaultServePort } from './config-schema.js';

/** Values given on the command line; undefined means "not given". */
export interface ConfigFlags {
  couch?: string | undefined;
  db?: string | undefined;
  dataDir?: string | undefined;
  config?: string | undefined;
  port?: string | number | undefined;
  logLevel?: string | undefined;
  extensions?: string[] | undefined;
}

type FileConfig = Partial<Pick<RaindropConfig, 'db' | 'dataDir' | 'port' | 'logLevel' | 'extensions'>> & { couchUrl?: string; accounts?: Record<string, AccountFileEntry> };

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validateFile = ajv.compile(configFileSchema);
const validateFinal = ajv.compile({ ...configFileSchema, required: ['db', 'dataDir', 'port', 'logLevel'] });

/**
 * Defaults < config file < environment < flags, validated once. `env` is a parameter so
 * tests can pass their own; the CLI passes `process.env` through `processEnv()`.
 */
export function loadConfig(flags: ConfigFlags = {}, env: Readonly<Record<string, string | undefined>> = processEnv()): RaindropConfig {
  const paths = envPaths('raindrop', { suffix: '' });
  const configFile = resolve(flags.config ?? env.RAINDROP_CONFIG ?? join(paths.config, 'config.json'));
  const file = readConfigFile(configFile);

  const merged: Record<string, unknown> = {
    db: defaultDbName,
    dataDir: paths.data,
    port: defaultServePort,
    logLevel: 'info',
    ...file,
  };
  const layer = (values: Record<string, unknown>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value !== undefined && value !== '') merged[name] = value;
    }
  };
  layer({
    couchUrl: env.RAINDROP_COUCH_URL,
    db: env.RAINDROP_DB,
    dataDir: env.RAINDROP_DATA_DIR,
    port: env.RAINDROP_PORT === undefined ? undefined : Number(env.RAINDROP_PORT),
    logLevel: env.RAINDROP_LOG_LEVEL,
    // A list like PATH: directories separated by ':' (';' on Windows).
    extensions: env.RAINDROP_EXTENSIONS?.split(delimiter).filter((d) => d.length > 0),
  });
  layer({
    couchUrl: flags.couch,
    db: flags.db,
    dataDir: flags.dataDir,
    port: flags.port === undefined ? undefined : Number(flags.port),
    logLevel: flags.logLevel,
    extensions: flags.extensions !== undefined && flags.extensions.length > 0 ? flags.extensions : undefined,
  });
  if (!validateFinal(merged)) {
    const problems = (validateFinal.errors ?? []).map((e) => `${e.instancePath.slice(1) || 'config'} ${e.message ?? 'is invalid'}`);
    throw new RaindropError(
      errorCodes.CONFIG_INVALID,
      `the configuration is invalid: ${problems.join('; ')}. Fix the flag, the RAINDROP_* variable or ${configFile}.`,
      { details: { problems } },
    );
  }
  return {
    couchUrl: typeof merged.couchUrl === 'string' ? merged.couchUrl : undefined,
    db: merged.db as string,
    dataDir: resolve(merged.dataDir as string),
    configFile,
    port: merged.port as number,
    logLevel: merged.logLevel as LogLevel,
    extensions: ((merged.extensions ?? []) as string[]).map((d) => resolve(d)),
    accounts: resolveAccounts(file.accounts ?? {}, env),
  };
}

/** Accounts with defaults applied: port 993 (implicit TLS) unless STARTTLS or no TLS is asked for. */
function resolveAccounts(entries: Record<string, AccountFileEntry>, env: Readonly<Record<string, string | undefined>>): Record<string, AccountSettings> {
  const out: Record<string, AccountSettings> = {};
  for (const [name, entry] of Object.entries(entries)) {
    const tls = entry.tls ?? 'auto';
    const fromEnv = entry.passwordEnv === undefined ? undefined : env[entry.passwordEnv];
    out[name] = {
      name,
      protocol: entry.protocol,
      host: entry.host,
      port: entry.port ?? (tls === 'starttls' || tls === 'none' ? 143 : 993),
      tls,
      user: entry.user,
      password: entry.password ?? (fromEnv === '' ? undefined : fromEnv),
      passwordFile: entry.passwordFile === undefined ? undefined : resolve(entry.passwordFile),
      passwordEnv: entry.passwordEnv,
      folders: entry.folders ?? [],
      excludeFolders: entry.excludeFolders ?? [],
      identities: entry.identities ?? [],
      smtp: entry.smtp === undefined ? undefined : resolveSmtp(entry, env),
    };
  }
  return out;
}

/** SMTP defaults: implicit TLS on 465, else STARTTLS (required: a server that does not
 * offer it is refused rather than sent the password in clear) on 587; the IMAP user and
 * secret when the SMTP section names no user of its own. */
function resolveSmtp(entry: AccountFileEntry, env: Readonly<Record<string, string | undefined>>): SmtpSettings {
  const smtp = entry.smtp as NonNullable<AccountFileEntry['smtp']>;
  const tls = smtp.tls ?? (smtp.port === 465 ? 'implicit' : 'starttls');
  const shared = smtp.user === undefined;
  const source = shared ? entry : smtp;
  const fromEnv = source.passwordEnv === undefined ? undefined : env[source.passwordEnv];
  return {
    host: smtp.host,
    port: smtp.port ?? (tls === 'implicit' ? 465 : 587),
    tls,
    user: smtp.user ?? entry.user,
    sharedCredentials: shared,
    password: source.password ?? (fromEnv === '' ? undefined : fromEnv),
    passwordFile: source.passwordFile === undefined ? undefined : resolve(source.passwordFile),
    passwordEnv: source.passwordEnv,
    caFile: smtp.caFile === undefined ? undefined : resolve(smtp.caFile),
    saveSent: smtp.saveSent ?? true,
  };
}

/** The config file as stored (for commands that edit it, e.g. `account add`); {} when absent. */
export function readConfigFileContents(path: string): Record<string, unknown> {
  return readConfigFile(path) as Record<string, unknown>;
}

function readConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RaindropError(errorCodes.CONFIG_INVALID, `cannot read the config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new RaindropError(errorCodes.CONFIG_INVALID, `the config file ${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (!validateFile(parsed)) {
    const problems = (validateFile.errors ?? []).map((e) => `${e.instancePath.slice(1) || '(top level)'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
    throw new RaindropError(errorCodes.CONFIG_INVALID, `the config file ${path} is invalid: ${problems.join('; ')}`, { details: { problems } });
  }
  return parsed as FileConfig;
}

/**
 * Writes the config file with mode 0600 (it holds account secrets), atomically: a crash
 * mid-write leaves the old file, never half of a new one.
 */
export async function writeConfigFile(path: string, contents: Record<string, unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/** The one place that touches process.env. */
export function processEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

/** Where the shared mail corpora are (benchmarks): RAINDROP_CORPUS_DIR, default the
 * project's sibling ../shared/corpus as laid out on developer machines and in CI. */
export function corpusDirSetting(env: Readonly<Record<string, string | undefined>> = processEnv()): string {
  return resolve(env.RAINDROP_CORPUS_DIR ?? join(projectRoot, '..', 'shared', 'corpus'));
}

/** Where the Apache CouchDB release with couchdb-up is (the cluster benchmark starts its
 * own nodes): RAINDROP_COUCHDB_RELEASE, default the sibling ../shared/couchdb. */
export function couchdbReleaseSetting(env: Readonly<Record<string, string | undefined>> = processEnv()): string {
  return resolve(env.RAINDROP_COUCHDB_RELEASE ?? join(projectRoot, '..', 'shared', 'couchdb'));
}
