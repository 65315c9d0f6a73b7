import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { AccountSettings, SmtpSettings } from '../../config/index.js';
import { RaindropError, errorCodes, type Logger } from '../../core/index.js';
import { smtpError } from './errors.js';
import type { SmtpLimits } from './limits.js';

type Mailer = ReturnType<typeof nodemailer.createTransport>;

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

/** One account's SMTP connection (nodemailer's SMTP transport, pooled: one connection kept
 * open between messages of a run). */
export interface SmtpLink {
  secret: string;
  /** Sends `bytes` unchanged with this envelope. `onHandedOver` is called once nodemailer
   * has read the last byte (the final dot follows), which is where a lost connection
   * stops meaning "not sent" and starts meaning "unknown". */
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
  const transport: Mailer = nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === 'implicit',
    // STARTTLS is required, not merely tried: a server (or a man in the middle) that
    // hides it must not receive the password in clear.
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    auth: { user: smtp.user, pass: secret },
    ...(ca === undefined ? {} : { tls: { ca: [ca] } }),
    connectionTimeout: limits.connectTimeoutMs,
    greetingTimeout: limits.greetingTimeoutMs,
    socketTimeout: limits.socketTimeoutMs,
    logger: false,
    debug: false,
  });
  // A pooled transport reports a broken idle connection as an event; the next send
  // reconnects, so it is only worth a debug line.
  transport.on('error', (err: Error) => logger.debug('smtp connection error', { account: account.name, error: smtpError(err, 'smtp', [secret]).message }));
  return {
    secret,
    async send(envelope, bytes, onHandedOver) {
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
      const info = (await transport.sendMail({ envelope, raw: source })) as { response?: unknown; accepted?: unknown[]; rejected?: unknown[] };
      return {
        response: typeof info.response === 'string' ? info.response : '',
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map(String),
      };
    },
    async verify() {
      try {
        await transport.verify();
      } catch (err) {
        throw smtpError(err, `logging in to ${smtp.host}:${smtp.port} as ${smtp.user}`, [secret]);
      }
    },
    close() {
      transport.close();
    },
  };
}
