import { createInterface } from 'node:readline';
import { type AccountFileEntry, type SmtpFileEntry, type SmtpTlsMode, type TlsMode, accountNamePattern, readConfigFileContents, writeConfigFile } from '../../config/index.js';
import { RaindropError, errorCodes } from '../../core/index.js';
import { docIdFor } from '../../core/index.js';
import { removeSchemaItem } from '../../couch/schema-items/write-schema-item.js';
import { connectAccount } from '../../protocols/imap/connect.js';
import { mailError } from '../../protocols/imap/errors.js';
import { discoverFolders } from '../../protocols/imap/folders.js';
import { defaultSmtpLimits } from '../../protocols/smtp/limits.js';
import { openSmtp } from '../../protocols/smtp/transport.js';
import { SchemaRegistry } from '../../schema/registry.js';
import { writeValidatedItem } from '../../schema/validated-write.js';
import type { Command, CommandContext, OptionValues } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

const accountWriter = 'rd.cli';
const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : []);

export const accountCommand: Command = {
  name: 'account',
  help: `Usage:
  raindrop account add NAME --imap-host HOST --user USER [--imap-port PORT]
        [--tls auto|implicit|starttls|none] [--password-env VAR | --password-file FILE]
        [--folders A,B] [--exclude-folders A,B] [--identities a@b.org,...]
        [--smtp-host HOST [--smtp-port PORT] [--smtp-tls implicit|starttls|none]
         [--smtp-user USER (--smtp-password-env VAR | --smtp-password-file FILE)]
         [--smtp-ca-file FILE] [--sent-by-server]]
  raindrop account list [--json]
  raindrop account remove NAME
  raindrop account test NAME [--json]

add     stores the account in the config file (mode 0600) and an rd.account item
        (name, protocol, host, user, identities; never the password) in CouchDB.
        The password: --password-env names a variable read at every sync (nothing
        stored), --password-file names a file read at every sync, otherwise it is read
        from the terminal (or the first line of stdin) and kept in the config file.
        --tls auto (default) is implicit TLS on port 993 and STARTTLS when offered on
        any other port; the default port is 993 (143 with starttls or none).
        --folders limits sync to those folders; --exclude-folders skips some (Trash,
        Junk and All Mail are skipped unless named in --folders).
        --smtp-host lets the account send: --smtp-tls starttls (default; required, never
        optional, so the password never goes in clear), implicit (the default on port
        465) or none (loopback only); the default port is 587 (465 with implicit).
        Without --smtp-user the IMAP user and password are used; with it, give its
        password with --smtp-password-env or --smtp-password-file (or at the prompt).
        --smtp-ca-file trusts a server certificate signed by your own CA.
        --sent-by-server: the server files sent mail itself (Gmail, Outlook.com), so
        Raindrop does not append a copy to the Sent folder.
list    the configured accounts and where their password comes from
remove  forgets the account (config and rd.account); mail already synced stays
test    connects, logs in and lists the folders sync would take, then logs in to the
        SMTP server when one is set; says what failed: dns, refused, tls, auth or
        timeout (exit 11, or 12 for a refused login)

Examples:
  raindrop account add work --imap-host imap.example.org --user ann --identities ann@example.org
  IMAP_PW=... raindrop account add home --imap-host 127.0.0.1 --imap-port 143 --tls none --user me --password-env IMAP_PW
  raindrop account add work --imap-host imap.example.org --user ann --identities ann@example.org \
        --smtp-host smtp.example.org --smtp-port 587
  raindrop account test work`,
  options: {
    'imap-host': { type: 'string' },
    'imap-port': { type: 'string' },
    tls: { type: 'string' },
    user: { type: 'string' },
    'password-env': { type: 'string' },
    'password-file': { type: 'string' },
    folders: { type: 'string' },
    'exclude-folders': { type: 'string' },
    identities: { type: 'string' },
    'smtp-host': { type: 'string' },
    'smtp-port': { type: 'string' },
    'smtp-tls': { type: 'string' },
    'smtp-user': { type: 'string' },
    'smtp-password-env': { type: 'string' },
    'smtp-password-file': { type: 'string' },
    'smtp-ca-file': { type: 'string' },
    'sent-by-server': { type: 'boolean' },
  },
  async run(ctx, values, positionals) {
    const [sub, name, ...rest] = positionals;
    if (rest.length > 0) throw new RaindropError(errorCodes.USAGE, `unexpected arguments: ${rest.join(' ')}`);
    switch (sub) {
      case 'add':
        return add(ctx, values, requireName(name));
      case 'list':
        return listAccounts(ctx);
      case 'remove':
        return remove(ctx, requireName(name));
      case 'test':
        return test(ctx, requireName(name));
      default:
        throw new RaindropError(errorCodes.USAGE, `"raindrop account" needs add, list, remove or test; got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
    }
  },
};

function requireName(name: string | undefined): string {
  if (name === undefined) throw new RaindropError(errorCodes.USAGE, 'give the account name, e.g. "raindrop account add work ..."');
  if (!new RegExp(accountNamePattern).test(name)) throw new RaindropError(errorCodes.USAGE, `account name "${name}" is not valid: use lower-case letters, digits, "-" and "_"`);
  return name;
}

export async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    return new Promise((resolve, reject) => {
      let value = '';
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            done();
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            done();
            reject(new RaindropError(errorCodes.ABORTED, 'cancelled'));
            return;
          }
          if (ch === '\u007f') value = value.slice(0, -1);
          else value += ch;
        }
      };
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
      };
      stdin.on('data', onData);
    });
  }
  const rl = createInterface({ input: stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  throw new RaindropError(errorCodes.USAGE, 'no password given: use --password-env VAR, --password-file FILE, or type it at the prompt');
}

async function add(ctx: CommandContext, values: OptionValues, name: string): Promise<number> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const host = str('imap-host');
  const user = str('user');
  if (!host || !user) throw new RaindropError(errorCodes.USAGE, 'account add needs --imap-host HOST and --user USER');
  const tls = (str('tls') ?? 'auto') as TlsMode;
  if (!['auto', 'implicit', 'starttls', 'none'].includes(tls)) throw new RaindropError(errorCodes.USAGE, `--tls must be auto, implicit, starttls or none, got "${tls}"`);
  const portText = str('imap-port');
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new RaindropError(errorCodes.USAGE, `--imap-port must be a port number, got "${portText}"`);
  if (str('password-env') && str('password-file')) throw new RaindropError(errorCodes.USAGE, 'give either --password-env or --password-file, not both');
  const identities = list(values.identities);
  for (const id of identities) if (!/^[^@\s]+@[^@\s]+$/.test(id)) throw new RaindropError(errorCodes.USAGE, `identity "${id}" is not an email address`);

  const file = readConfigFileContents(ctx.config.configFile);
  const accounts = { ...((file.accounts ?? {}) as Record<string, AccountFileEntry>) };
  const entry: AccountFileEntry = { protocol: 'imap', host, user, tls, ...(port === undefined ? {} : { port }) };
  const env = str('password-env');
  const pwFile = str('password-file');
  if (env !== undefined) entry.passwordEnv = env;
  else if (pwFile !== undefined) entry.passwordFile = pwFile;
  else entry.password = await readSecret(`password for ${user} at ${host}: `);
  if (list(values.folders).length > 0) entry.folders = list(values.folders);
  if (list(values['exclude-folders']).length > 0) entry.excludeFolders = list(values['exclude-folders']);
  if (identities.length > 0) entry.identities = identities;
  const smtp = await smtpEntry(values);
  if (smtp !== undefined) entry.smtp = smtp;
  const replaced = name in accounts;
  accounts[name] = entry;

  // CouchDB first: a database that refuses the item leaves the config file untouched.
  const { server, db } = await openDatabase(ctx);
  try {
    const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    try {
      await writeValidatedItem(registry, db, {
        key: ['account', name],
        schemaId: 'rd.account',
        writer: accountWriter,
        category: 'provider',
        source: null,
        fields: { name, protocol: 'imap', host, username: user, identities: identities.map((i) => ['email', i]) },
      });
    } finally {
      await registry.close();
    }
  } finally {
    await server.release();
  }
  await writeConfigFile(ctx.config.configFile, { ...file, accounts });
  const secretFrom = env !== undefined ? `environment variable ${env}` : pwFile !== undefined ? `file ${pwFile}` : `config file ${ctx.config.configFile}`;
  ctx.output.data({ account: name, replaced, host, user, tls, port: port ?? null, password: secretFrom.split(' ')[0] }, `account "${name}" ${replaced ? 'updated' : 'added'} (${user} at ${host}; password from the ${secretFrom}). Next: raindrop account test ${name}; raindrop sync ${name}`);
  return exitCodes.ok;
}

/** The SMTP section from the --smtp-* flags; undefined without --smtp-host. */
async function smtpEntry(values: OptionValues): Promise<SmtpFileEntry | undefined> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const host = str('smtp-host');
  const others = ['smtp-port', 'smtp-tls', 'smtp-user', 'smtp-password-env', 'smtp-password-file', 'smtp-ca-file'].filter((k) => str(k) !== undefined);
  if (host === undefined) {
    if (others.length > 0 || values['sent-by-server'] === true) throw new RaindropError(errorCodes.USAGE, `--${others[0] ?? 'sent-by-server'} needs --smtp-host HOST`);
    return undefined;
  }
  const tls = str('smtp-tls');
  if (tls !== undefined && !['implicit', 'starttls', 'none'].includes(tls)) throw new RaindropError(errorCodes.USAGE, `--smtp-tls must be implicit, starttls or none, got "${tls}"`);
  const portText = str('smtp-port');
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new RaindropError(errorCodes.USAGE, `--smtp-port must be a port number, got "${portText}"`);
  const smtpUser = str('smtp-user');
  const env = str('smtp-password-env');
  const file = str('smtp-password-file');
  if (env !== undefined && file !== undefined) throw new RaindropError(errorCodes.USAGE, 'give either --smtp-password-env or --smtp-password-file, not both');
  if (smtpUser === undefined && (env !== undefined || file !== undefined)) throw new RaindropError(errorCodes.USAGE, '--smtp-password-env/--smtp-password-file go with --smtp-user; without --smtp-user the IMAP login is used');
  const entry: SmtpFileEntry = { host, ...(port === undefined ? {} : { port }), ...(tls === undefined ? {} : { tls: tls as SmtpTlsMode }) };
  if (smtpUser !== undefined) {
    entry.user = smtpUser;
    if (env !== undefined) entry.passwordEnv = env;
    else if (file !== undefined) entry.passwordFile = file;
    else entry.password = await readSecret(`SMTP password for ${smtpUser} at ${host}: `);
  }
  const ca = str('smtp-ca-file');
  if (ca !== undefined) entry.caFile = ca;
  if (values['sent-by-server'] === true) entry.saveSent = false;
  return entry;
}

function listAccounts(ctx: CommandContext): number {
  const rows = Object.values(ctx.config.accounts).map((a) => ({
    name: a.name,
    protocol: a.protocol,
    host: a.host,
    port: a.port,
    tls: a.tls,
    user: a.user,
    password: a.passwordEnv !== undefined ? `env ${a.passwordEnv}` : a.passwordFile !== undefined ? `file ${a.passwordFile}` : a.password !== undefined ? 'config file' : 'missing',
    folders: a.folders,
    excludeFolders: a.excludeFolders,
    identities: a.identities,
    smtp: a.smtp === undefined ? null : { host: a.smtp.host, port: a.smtp.port, tls: a.smtp.tls, user: a.smtp.user, password: a.smtp.sharedCredentials ? 'same as IMAP' : a.smtp.passwordEnv !== undefined ? `env ${a.smtp.passwordEnv}` : a.smtp.passwordFile !== undefined ? `file ${a.smtp.passwordFile}` : a.smtp.password !== undefined ? 'config file' : 'missing', saveSent: a.smtp.saveSent },
  }));
  ctx.output.data({ accounts: rows }, rows.map((r) => `${r.name}  ${r.user}@${r.host}:${r.port} (tls ${r.tls}; password: ${r.password})${r.smtp ? `; sends via ${r.smtp.user}@${r.smtp.host}:${r.smtp.port} (tls ${r.smtp.tls}; password: ${r.smtp.password})` : '; cannot send'}`).join('\n') || 'no accounts; add one with "raindrop account add NAME --imap-host HOST --user USER"');
  return exitCodes.ok;
}

async function remove(ctx: CommandContext, name: string): Promise<number> {
  const file = readConfigFileContents(ctx.config.configFile);
  const accounts = { ...((file.accounts ?? {}) as Record<string, AccountFileEntry>) };
  if (!(name in accounts)) throw new RaindropError(errorCodes.ACCOUNT_UNKNOWN, `no account "${name}" in ${ctx.config.configFile}; "raindrop account list" shows the accounts`);
  delete accounts[name];
  const { server, db } = await openDatabase(ctx);
  try {
    await removeSchemaItem(db, docIdFor(['account', name], 'rd.account'), accountWriter);
  } finally {
    await server.release();
  }
  await writeConfigFile(ctx.config.configFile, { ...file, accounts });
  ctx.output.data({ account: name, removed: true }, `account "${name}" removed; its mail stays in the database`);
  return exitCodes.ok;
}

async function test(ctx: CommandContext, name: string): Promise<number> {
  const account = ctx.config.accounts[name];
  if (!account) throw new RaindropError(errorCodes.ACCOUNT_UNKNOWN, `no account "${name}"; "raindrop account list" shows the accounts`);
  const started = performance.now();
  const conn = await connectAccount(account, ctx.logger);
  try {
    const folders = await discoverFolders(conn.client, account).catch((err: unknown) => {
      throw mailError(err, 'listing folders', [conn.secret]);
    });
    const capabilities = ['IDLE', 'CONDSTORE', 'QRESYNC', 'MOVE', 'UIDPLUS', 'SPECIAL-USE'].filter((c) => conn.client.capabilities.has(c));
    const ms = Math.round(performance.now() - started);
    const imapText = `ok: logged in to ${account.host}:${account.port} as ${account.user} in ${ms} ms\nserver offers: ${capabilities.join(' ') || '(none of IDLE CONDSTORE QRESYNC MOVE)'}\nfolders sync takes: ${folders.map((f) => f.path).join(', ')}`;
    const imap = { host: account.host, port: account.port, folders: folders.map((f) => ({ path: f.path, specialUse: f.specialUse ?? null })), capabilities, ms };
    let smtp: { host: string; port: number; tls: string; ms: number } | null = null;
    if (account.smtp) {
      const smtpStarted = performance.now();
      const link = await openSmtp(account, defaultSmtpLimits, ctx.logger);
      try {
        await link.verify();
      } catch (err) {
        if (!ctx.output.json) ctx.output.say(imapText);
        throw err;
      } finally {
        link.close();
      }
      smtp = { host: account.smtp.host, port: account.smtp.port, tls: account.smtp.tls, ms: Math.round(performance.now() - smtpStarted) };
    }
    const smtpText = smtp ? `\nok: SMTP login to ${smtp.host}:${smtp.port} (${smtp.tls}) as ${account.smtp?.user ?? ''} in ${smtp.ms} ms` : '\nno SMTP settings: this account cannot send';
    ctx.output.data({ account: name, ok: true, ...imap, smtp }, `${imapText}${smtpText}`);
    return exitCodes.ok;
  } finally {
    await conn.close();
  }
}
