import { RaindropError, errorCodes } from '../../core/index.js';
import { useDatabase } from '../../couch/connect.js';
import { readOutbox } from '../../protocols/smtp/outbox.js';
import { changeOutgoing, readOutgoing } from '../../protocols/smtp/user-items.js';
import { SchemaRegistry } from '../../schema/registry.js';
import type { Command, CommandContext } from '../command.js';
import { openDatabase } from '../open-database.js';
import { exitCodes } from '../exit-codes.js';
import { flushOutbox } from '../flush-outbox.js';

const idOf = (text: string | undefined): string => {
  const id = text?.replace(/^<|>$/g, '').trim();
  if (!id) throw new RaindropError(errorCodes.USAGE, 'give the Message-ID of the outgoing message ("raindrop outbox" lists them)');
  return id;
};

export const outboxCommand: Command = {
  name: 'outbox',
  help: `Usage:
  raindrop outbox [--json]
  raindrop outbox retry MESSAGE-ID
  raindrop outbox cancel MESSAGE-ID
  raindrop outbox flush [--json]

(no sub-command)  every outgoing message and its state:
          draft     stored, not to be sent
          queued    to be sent; the queue or the sender has not acted yet
          sending   an attempt is under way
          sent      the server accepted it (its reply is kept)
          retrying  a temporary failure (4xx, network); tried again later, a few times
          failed    refused for good (5xx, login, TLS): the server's words are shown
          unknown   an attempt began and its outcome was never recorded (the sender
                    stopped, or the connection died after the whole message was sent):
                    the recipients may have it. Check before "retry".
retry     send a failed or unknown message again (your explicit word: it may arrive
          twice if the unknown attempt did reach the server); also hurries a retrying one
cancel    turn a queued or retrying message back into a draft; too late once it is
          being sent
flush     build and send whatever is due now, without "raindrop serve"

Examples:
  raindrop outbox
  raindrop outbox retry 5f1c0e2a-...@example.org
  raindrop outbox --json | jq '.messages[] | select(.state == "unknown")'`,
  options: {},
  async run(ctx, _values, positionals) {
    const [sub, id, ...rest] = positionals;
    if (rest.length > 0) throw new RaindropError(errorCodes.USAGE, `unexpected arguments: ${rest.join(' ')}`);
    switch (sub) {
      case undefined:
      case 'list':
        return list(ctx);
      case 'retry':
        return retry(ctx, idOf(id));
      case 'cancel':
        return cancel(ctx, idOf(id));
      case 'flush': {
        const report = await flushOutbox(ctx);
        ctx.output.data(report, `${report.sent} sent, ${report.retrying} to retry, ${report.failed} failed, ${report.unknown} unknown (of ${report.looked} looked at)`);
        return report.failed + report.unknown > 0 ? exitCodes.failure : exitCodes.ok;
      }
      default:
        throw new RaindropError(errorCodes.USAGE, `"raindrop outbox" takes retry, cancel or flush; got "${sub}"`);
    }
  },
};

async function withDb<T>(ctx: CommandContext, fn: (db: ReturnType<typeof useDatabase>, registry: SchemaRegistry) => Promise<T>): Promise<T> {
  const { server, db } = await openDatabase(ctx);
  try {
    const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    try {
      return await fn(db, registry);
    } finally {
      await registry.close();
    }
  } finally {
    await server.release();
  }
}

async function list(ctx: CommandContext): Promise<number> {
  const entries = await withDb(ctx, (db) => readOutbox(db));
  const messages = entries.map(({ needsSender: _n, ...e }) => e);
  const lines = messages.map((m) => `${m.state.padEnd(8)}  ${m.messageId}  ${m.subject ?? ''} -> ${m.to.join(', ')}${m.nextAttemptAt ? ` (next try ${m.nextAttemptAt})` : ''}${m.error ? `\n          ${m.error}` : ''}`);
  ctx.output.data({ messages }, lines.join('\n') || 'the outbox is empty');
  return exitCodes.ok;
}

async function retry(ctx: CommandContext, id: string): Promise<number> {
  const result = await withDb(ctx, async (db, registry) => {
    const now = await readOutgoing(db, id);
    if (now.shown !== 'failed' && now.shown !== 'unknown' && now.shown !== 'retrying') {
      throw new RaindropError(errorCodes.USAGE, `${id} is ${now.shown}; only a failed, unknown or retrying message can be sent again`);
    }
    await changeOutgoing(registry, db, id, (f) => ({ ...f, state: 'send', send_request: (f.send_request ?? 1) + 1 }));
    return now.shown;
  });
  ctx.output.data({ message_id: id, was: result, state: 'queued' }, `${id} (${result}) queued again; "raindrop serve" or "raindrop outbox flush" sends it`);
  return exitCodes.ok;
}

async function cancel(ctx: CommandContext, id: string): Promise<number> {
  const outcome = await withDb(ctx, async (db, registry) => {
    const before = await readOutgoing(db, id);
    if (before.shown !== 'queued' && before.shown !== 'retrying') {
      throw new RaindropError(errorCodes.USAGE, `${id} is ${before.shown}; only a queued or retrying message can be cancelled`);
    }
    await changeOutgoing(registry, db, id, (f) => ({ ...f, state: 'draft' }));
    // A sender may have started between the look and the write: say so.
    return (await readOutgoing(db, id)).shown;
  });
  if (outcome !== 'draft') {
    ctx.output.data({ message_id: id, cancelled: false, state: outcome }, `too late: ${id} is ${outcome}`);
    return exitCodes.failure;
  }
  ctx.output.data({ message_id: id, cancelled: true, state: 'draft' }, `${id} is a draft again; nothing was sent`);
  return exitCodes.ok;
}
