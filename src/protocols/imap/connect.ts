import { readFile } from 'node:fs/promises';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { AccountSettings } from '../../config/index.js';
import { RaindropError, errorCodes, type Logger } from '../../core/index.js';
import { mailError } from './errors.js';
import { imapLimits } from './limits.js';

/** The secret of an account: from the config file, its environment variable, or its
 * password file. Never logged; callers pass it to `mailError` for redaction. */
export async function accountSecret(account: AccountSettings): Promise<string> {
  if (account.password !== undefined) return account.password;
  if (account.passwordFile !== undefined) {
    try {
      return (await readFile(account.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (cause) {
      throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}": cannot read its password file ${account.passwordFile}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (account.passwordEnv !== undefined) {
    throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}" takes its password from the environment variable ${account.passwordEnv}, which is not set`);
  }
  throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}" has no password; run "raindrop account add ${account.name} ..." again with --password-env, --password-file or at the prompt`);
}

export interface Connection {
  client: ImapFlow;
  secret: string;
  /** Logs out (or closes when the connection is already broken); never throws. */
  close(): Promise<void>;
}

/** imapflow's logger interface, routed to ours at debug level; it never logs secrets. */
function imapLogger(logger: Logger): ImapFlowOptions['logger'] {
  const pass = (level: 'debug' | 'warn' | 'error') => (obj: unknown) => {
    const o = obj as { msg?: unknown; err?: unknown };
    logger[level](`imap: ${typeof o?.msg === 'string' ? o.msg : 'event'}`);
  };
  return { debug: () => undefined, info: () => undefined, warn: pass('debug'), error: pass('debug') };
}

/** Connects and logs in; failures become RaindropErrors naming the reason (DNS, refused,
 * TLS, auth, timeout) without the secret. */
export async function connectAccount(account: AccountSettings, logger: Logger): Promise<Connection> {
  const secret = await accountSecret(account);
  const client = new ImapFlow({
    host: account.host,
    port: account.port,
    secure: account.tls === 'implicit' || (account.tls === 'auto' && account.port === 993),
    ...(account.tls === 'starttls' ? { doSTARTTLS: true } : account.tls === 'none' ? { doSTARTTLS: false } : {}),
    auth: { user: account.user, pass: secret },
    logger: imapLogger(logger),
    // Raw bytes exactly as stored: BINARY[] may hand back decoded content.
    disableBinary: true,
    // QRESYNC when offered: flag changes and expunges since a HIGHESTMODSEQ.
    qresync: true,
    connectionTimeout: imapLimits.connectTimeoutMs,
    greetingTimeout: imapLimits.greetingTimeoutMs,
    socketTimeout: imapLimits.socketTimeoutMs,
    maxLiteralSize: imapLimits.maxMessageBytes,
    maxIdleTime: imapLimits.idleRestartMs,
  });
  // An 'error' event with no listener would crash the process; the failing command rejects too.
  client.on('error', (err: Error) => logger.debug('imap connection error', { error: mailError(err, 'connection', [secret]).message }));
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw mailError(err, `connecting to ${account.host}:${account.port} as ${account.user}`, [secret]);
  }
  return {
    client,
    secret,
    async close() {
      if (client.usable) {
        // LOGOUT is a courtesy: bounded, and also done when the socket closes under it
        // (a LOGOUT whose answer never comes must not keep serve from stopping).
        let timer: NodeJS.Timeout | undefined;
        const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
        await Promise.race([
          client.logout().catch(() => undefined),
          closed,
          new Promise<void>((resolve) => (timer = setTimeout(resolve, imapLimits.logoutTimeoutMs))),
        ]);
        clearTimeout(timer);
      }
      client.close();
    },
  };
}
