import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import addressparser from 'nodemailer/lib/addressparser';
import { RaindropError, docIdFor, errorCodes } from '../../core/index.js';
import { getDoc } from '../../couch/bulk-get.js';
import { useDatabase } from '../../couch/connect.js';
import type { AttachmentInput } from '../../couch/schema-items/model.js';
import type { Address, OutgoingFields } from '../../protocols/smtp/items.js';
import { readOutgoing, writeOutgoingItem } from '../../protocols/smtp/user-items.js';
import { SchemaRegistry } from '../../schema/registry.js';
import type { Command } from '../command.js';
import { openDatabase } from '../open-database.js';
import { exitCodes } from '../exit-codes.js';
import { flushOutbox } from '../flush-outbox.js';
import { cliLimits } from '../limits.js';

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);

/** "Bob <bob@example.org>, carol@example.org" -> addresses, by nodemailer's addressparser. */
export function parseAddresses(values: readonly string[], option: string): Address[] {
  const out: Address[] = [];
  for (const value of values) {
    for (const a of addressparser(value, { flatten: true })) {
      const address = a.address ?? '';
      if (!/^[^\s@<>,;:"()[\]]{1,64}@[^\s@<>,;:"()[\]]{1,189}$/.test(address)) {
        throw new RaindropError(errorCodes.USAGE, `${option}: "${a.name || address || value}" is not an e-mail address (use name@example.org or "Name <name@example.org>")`);
      }
      out.push(a.name ? { name: a.name, address } : { address });
    }
  }
  return out;
}

const messageKeyText = (text: string) => text.replace(/^<|>$/g, '').trim();

export const sendCommand: Command = {
  name: 'send',
  help: `Usage: raindrop send --to ADDR... [--cc ADDR]... [--bcc ADDR]... [--subject S]
        [--body FILE] [--html FILE] [--attach FILE]... [--reply-to MESSAGE-ID]
        [--forward MESSAGE-ID] [--account NAME] [--from ADDR] [--draft] [--json]

Writes the message as an rd.msg.outgoing item (what the web app writes too) and sends
it: the queue builds it (rd.ext.outgoing: Message-ID, Date, threading headers, the
identity's name), the sender hands it to the account's SMTP server, files it in the
Sent folder and keeps it as an ordinary message. The body is read from --body FILE or
from stdin. Nothing is ever sent twice: see "raindrop outbox" for the state of each
message, and "raindrop outbox retry" when one failed or its outcome is unknown.

Options:
  --to, --cc, --bcc ADDR   recipients (repeatable; "Name <a@b.org>" or a list with commas)
  --subject S              the subject (default for --reply-to: "Re: " + the original's)
  --body FILE              the text; "-" or absent: stdin
  --html FILE              an HTML version of the text
  --attach FILE            a file to attach (repeatable; ${cliLimits.maxAttachmentMb} MB in all)
  --reply-to MESSAGE-ID    the message this answers: In-Reply-To and References continue
                           its thread (the message must be in the database)
  --forward MESSAGE-ID     attach this message (as message/rfc822)
  --account NAME           the sending account (default: the only one with SMTP settings)
  --from ADDR              the From address (default: the account's first identity)
  --draft                  only store it as a draft; nothing is sent

Examples:
  echo "See you at ten." | raindrop send --to "Bob <bob@example.net>" --subject Plans
  raindrop send --reply-to 1234@example.net --body reply.txt --attach notes.pdf
  raindrop send --forward 1234@example.net --to carol@example.net --body /dev/null`,
  options: {
    to: { type: 'string', multiple: true },
    cc: { type: 'string', multiple: true },
    bcc: { type: 'string', multiple: true },
    subject: { type: 'string' },
    body: { type: 'string' },
    html: { type: 'string' },
    attach: { type: 'string', multiple: true },
    'reply-to': { type: 'string' },
    forward: { type: 'string' },
    account: { type: 'string' },
    from: { type: 'string' },
    draft: { type: 'boolean' },
  },
  async run(ctx, values, positionals) {
    if (positionals.length > 0) throw new RaindropError(errorCodes.USAGE, `unexpected arguments: ${positionals.join(' ')}; recipients go after --to`);
    const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    const senders = Object.values(ctx.config.accounts).filter((a) => a.smtp !== undefined);
    const accountName = str('account') ?? (senders.length === 1 ? senders[0]!.name : undefined);
    if (accountName === undefined) {
      throw new RaindropError(errorCodes.ACCOUNT_UNKNOWN, senders.length === 0 ? 'no account can send: add SMTP settings with "raindrop account add NAME ... --smtp-host HOST"' : `several accounts can send (${senders.map((a) => a.name).join(', ')}); choose one with --account`);
    }
    const account = ctx.config.accounts[accountName];
    if (!account) throw new RaindropError(errorCodes.ACCOUNT_UNKNOWN, `no account "${accountName}"; "raindrop account list" shows the accounts`);
    if (!account.smtp) throw new RaindropError(errorCodes.CONFIG_INVALID, `account "${accountName}" has no SMTP settings; add them with "raindrop account add ${accountName} ... --smtp-host HOST"`);
    const fromText = str('from') ?? account.identities[0] ?? (account.user.includes('@') ? account.user : undefined);
    if (fromText === undefined) throw new RaindropError(errorCodes.USAGE, `give --from ADDR: account "${accountName}" has no identity (add one with --identities)`);
    const [from] = parseAddresses([fromText], '--from');
    const to = parseAddresses(strings(values.to), '--to');
    const cc = parseAddresses(strings(values.cc), '--cc');
    const bcc = parseAddresses(strings(values.bcc), '--bcc');
    if (to.length + cc.length + bcc.length === 0) throw new RaindropError(errorCodes.USAGE, 'the message has no recipient: give --to (or --cc, --bcc)');
    if (to.length + cc.length + bcc.length > cliLimits.maxRecipients) throw new RaindropError(errorCodes.USAGE, `at most ${cliLimits.maxRecipients} recipients per message`);

    const bodyFile = str('body');
    const text = bodyFile === undefined || bodyFile === '-' ? await readStdin() : await readFile(bodyFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new RaindropError(errorCodes.USAGE, `--body ${bodyFile}: cannot read it (${e.code ?? e.message})`);
    });
    const htmlFile = str('html');
    const html = htmlFile === undefined ? undefined : await readFile(htmlFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new RaindropError(errorCodes.USAGE, `--html ${htmlFile}: cannot read it (${e.code ?? e.message})`);
    });
    const files: Record<string, AttachmentInput> = {};
    const listed: NonNullable<OutgoingFields['attachments']> = [];
    let total = 0;
    for (const [i, path] of strings(values.attach).entries()) {
      const info = await stat(path).catch((e: NodeJS.ErrnoException) => {
        throw new RaindropError(errorCodes.USAGE, `--attach ${path}: cannot read it (${e.code ?? e.message})`);
      });
      total += info.size;
      if (total > cliLimits.maxAttachmentMb * 1024 * 1024) throw new RaindropError(errorCodes.USAGE, `the attachments add up to more than ${cliLimits.maxAttachmentMb} MB, more than mail servers accept in one message`);
      const name = `a${i + 1}`;
      files[name] = { contentType: 'application/octet-stream', data: await readFile(path) };
      listed.push({ attachment: name, filename: basename(path) });
    }

    const { server, db } = await openDatabase(ctx);
    let messageId: string;
    try {
      const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
      try {
        const replyTo = str('reply-to');
        const forward = str('forward');
        const parentSubject = async (id: string, what: string) => {
          const parsed = await getDoc(db, docIdFor(['email', id], 'rd.msg.email'));
          if (!parsed) throw new RaindropError(errorCodes.USAGE, `${what} ${id}: no such message in the database (give its Message-ID; sync or import it first)`);
          return typeof parsed.subject === 'string' ? parsed.subject : '';
        };
        let subject = str('subject');
        if (replyTo !== undefined) {
          const s = await parentSubject(messageKeyText(replyTo), '--reply-to');
          subject ??= /^re:/i.test(s) ? s : `Re: ${s}`;
        }
        if (forward !== undefined) {
          const s = await parentSubject(messageKeyText(forward), '--forward');
          subject ??= `Fwd: ${s}`;
        }
        messageId = `${randomUUID()}@${from!.address.split('@')[1]}`;
        const fields: OutgoingFields = {
          account: accountName,
          from: from!,
          to,
          ...(cc.length > 0 ? { cc } : {}),
          ...(bcc.length > 0 ? { bcc } : {}),
          subject: subject ?? '',
          text,
          ...(html === undefined ? {} : { html }),
          ...(listed.length > 0 ? { attachments: listed } : {}),
          ...(replyTo === undefined ? {} : { in_reply_to: ['email', messageKeyText(replyTo)] as ['email', string] }),
          ...(forward === undefined ? {} : { forward_of: ['email', messageKeyText(forward)] as ['email', string] }),
          state: values.draft === true ? 'draft' : 'send',
          requested_at: new Date().toISOString(),
        };
        await writeOutgoingItem(registry, db, messageId, fields, files);
      } finally {
        await registry.close();
      }
    } finally {
      await server.release();
    }
    if (values.draft === true) {
      ctx.output.data({ message_id: messageId, state: 'draft' }, `draft ${messageId} stored; nothing sent`);
      return exitCodes.ok;
    }
    await flushOutbox(ctx, [messageId]);
    const server2 = await ctx.openServer();
    try {
      const now = await readOutgoing(useDatabase(server2.couch, ctx.config.db), messageId);
      const error = now.state?.error;
      ctx.output.data(
        { message_id: messageId, state: now.shown, ...(error ? { error } : {}), ...(now.state?.response ? { response: now.state.response } : {}) },
        `${messageId}: ${now.shown}${now.state?.response ? ` (${now.state.response})` : ''}${error ? `: ${error}` : ''}${now.shown === 'queued' ? '; the queue has not built it yet: "raindrop errors" shows why, or run "raindrop outbox flush"' : ''}`,
      );
      return now.shown === 'sent' || now.shown === 'retrying' || now.shown === 'queued' ? exitCodes.ok : exitCodes.failure;
    } finally {
      await server2.release();
    }
  },
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('type the message; end with Ctrl-D\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
