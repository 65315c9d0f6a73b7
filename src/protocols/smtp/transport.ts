import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import SMTPConnection, { type SMTPConnectionOptions } from 'nodemailer/lib/smtp-connection';
import type { AccountSettings, SmtpSettings } from '../../config/index.js';
import { RaindropError, errorCodes, type Logger } from '../../core/index.js';
import { smtpError } from './errors.js';
import type { SmtpLimits } from './limits.js';

/** The account's SMTP settings, or a clear refusal when it has none. */
export function smtpSettingsOf(account: AccountSettings): SmtpSettings {
  if (!account.smtp) {
    throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}" has no SMTP settings, so it cannot send; add them with "raindrop account add ${account.name} ... --smtp-host HOST"`);
  }
  return account.smtp;
}

/** The SMTP secret: the config file, its environment variable, or its password file (the
 * IMAP ones when the credentials are shared). Never logged. */
export async function smtpSecret(account: AccountSettings, smtp: SmtpSettings): Promise<string> {
  if (smtp.password !== undefined) return smtp.password;
  if (smtp.passwordFile !== undefined) {
    try {
      return (await readFile(smtp.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (cause) {
      throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}": cannot read the SMTP password file ${smtp.passwordFile}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (smtp.passwordEnv !== undefined) {
    throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}" takes its SMTP password from the environment variable ${smtp.passwordEnv}, which is not set`);
  }
  throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}" has no SMTP password; run "raindrop account add" again with --smtp-password-env or --smtp-password-file (or share the IMAP credentials)`);
}

/** One account's SMTP connection (nodemailer's SMTPConnection, the engine of its SMTP
 * transport, used directly: the message stream is only read once the server said 354 to
 * DATA, which is what makes "handed over" mean what it says). One connection is kept
 * open between the messages of a run; a dropped one is opened again before the next. */
export interface SmtpLink {
  secret: string;
  /** Sends `bytes` unchanged with this envelope. `onHandedOver` is called once the last
   * byte was read into the DATA stream (the final dot follows), which is where a lost
   * connection stops meaning "not sent" and starts meaning "unknown". */
  send(envelope: { from: string; to: string[] }, bytes: Buffer, onHandedOver: () => void): Promise<{ response: string; accepted: string[]; rejected: string[] }>;
  /** Connects and logs in (account test). */
  verify(): Promise<void>;
  close(): void;
}

export async function openSmtp(account: AccountSettings, limits: SmtpLimits, logger: Logger): Promise<SmtpLink> {
  const smtp = smtpSettingsOf(account);
  const secret = await smtpSecret(account, smtp);
  let ca: Buffer | undefined;
  if (smtp.caFile !== undefined) {
    try {
      ca = await readFile(smtp.caFile);
    } catch (cause) {
      throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${account.name}": cannot read the SMTP CA file ${smtp.caFile}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const options: SMTPConnectionOptions = {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === 'implicit',
    // STARTTLS is required, not merely tried: a server (or a man in the middle) that
    // hides it must not receive the password in clear.
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    ...(ca === undefined ? {} : { tls: { ca: [ca] } }),
    connectionTimeout: limits.connectTimeoutMs,
    greetingTimeout: limits.greetingTimeoutMs,
    socketTimeout: limits.socketTimeoutMs,
    logger: false,
    debug: false,
  };
  let open: { conn: SMTPConnection; used: boolean } | undefined;

  const connect = async (): Promise<SMTPConnection> => {
    const conn = new SMTPConnection(options);
    // An 'error' with no listener would crash the process; the failing call rejects too.
    conn.on('error', (err: Error) => logger.debug('smtp connection error', { account: account.name, error: smtpError(err, 'smtp', [secret]).message }));
    conn.once('end', () => {
      if (open?.conn === conn) open = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => {
        conn.off('error', reject);
        resolve();
      });
    });
    try {
      await new Promise<void>((resolve, reject) => conn.login({ user: smtp.user, pass: secret }, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  };
  /** A logged-in connection ready for a new transaction. */
  const ready = async (): Promise<SMTPConnection> => {
    if (open?.used) {
      const { conn } = open;
      const reset = await new Promise<boolean>((resolve) => conn.reset((err) => resolve(!err)));
      if (reset && open?.conn === conn) return conn;
      conn.close();
      open = undefined;
    }
    if (!open) {
      try {
        open = { conn: await connect(), used: false };
      } catch (err) {
        open = undefined;
        throw err;
      }
    }
    return open.conn;
  };

  // One SMTP connection carries one transaction at a time: two passes of one sender at
  // once (a timer and the feed) interleaved their commands on it and hung. Transactions
  // wait their turn here.
  let turn: Promise<unknown> = Promise.resolve();
  const sendNow: SmtpLink['send'] = async (envelope, bytes, onHandedOver) => {
    const conn = await ready();
    if (open) open.used = true;
    let offset = 0;
    const chunk = 64 * 1024;
    const source = new Readable({
      read() {
        if (offset >= bytes.length) {
          this.push(null);
          return;
        }
        this.push(bytes.subarray(offset, offset + chunk));
        offset += chunk;
      },
    });
    source.once('end', onHandedOver);
    try {
      const info = await new Promise<{ response?: unknown; accepted?: unknown[]; rejected?: unknown[] }>((resolve, reject) =>
        conn.send(envelope, source, (err, result) => (err ? reject(err) : resolve(result as unknown as { response?: unknown; accepted?: unknown[]; rejected?: unknown[] }))),
      );
      return {
        response: typeof info.response === 'string' ? info.response : '',
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map(String),
      };
    } catch (err) {
      // After a failed transaction the connection is not trusted for the next one.
      if (open?.conn === conn) open = undefined;
      conn.close();
      throw err;
    }
  };

  return {
    secret,
    send(envelope, bytes, onHandedOver) {
      const result = turn.then(() => sendNow(envelope, bytes, onHandedOver));
      turn = result.catch(() => undefined);
      return result;
    },
    async verify() {
      try {
        const conn = await connect();
        conn.quit();
      } catch (err) {
        throw smtpError(err, `logging in to ${smtp.host}:${smtp.port} as ${smtp.user}`, [secret]);
      }
    },
    close() {
      const conn = open?.conn;
      open = undefined;
      conn?.quit();
    },
  };
}
