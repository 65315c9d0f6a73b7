import { RaindropError, errorCodes, type RdKey } from '../../core/index.js';
import { flagSchemas, userConfidence, userWriter } from '../../protocols/imap/items.js';
import { SchemaRegistry } from '../../schema/registry.js';
import { writeValidatedItem } from '../../schema/validated-write.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

const actions = {
  seen: [flagSchemas.seen, 'seen', true],
  unseen: [flagSchemas.seen, 'seen', false],
  flag: [flagSchemas.flagged, 'flagged', true],
  unflag: [flagSchemas.flagged, 'flagged', false],
  archive: [flagSchemas.archived, 'archived', true],
  delete: [flagSchemas.deleted, 'deleted', true],
  undelete: [flagSchemas.deleted, 'deleted', false],
} as const;

/** Verdicts on senders: positionals are addresses, written as rd.identity.sender-flags. */
const senderActions = { 'bulk-sender': true, 'not-bulk-sender': false } as const;

function parseAddress(text: string): RdKey {
  const address = text.replace(/^<|>$/g, '').trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new RaindropError(errorCodes.USAGE, `"${text}" is not an e-mail address`);
  return ['identity', ['email', address]];
}

/** A message key from the command line: a Message-ID (angle brackets optional) or a JSON key. */
function parseKey(text: string): RdKey {
  if (text.startsWith('[')) {
    try {
      const key = JSON.parse(text) as unknown;
      if (Array.isArray(key) && key[0] === 'email' && typeof key[1] === 'string') return ['email', key[1]];
    } catch {
      // fall through to the message below
    }
    throw new RaindropError(errorCodes.USAGE, `"${text}" is not a message key such as ["email","id@host"]`);
  }
  const id = text.replace(/^<|>$/g, '').trim();
  if (id.length === 0) throw new RaindropError(errorCodes.USAGE, 'an empty message id');
  return ['email', id];
}

export const markCommand: Command = {
  name: 'mark',
  help: `Usage: raindrop mark --seen|--unseen|--flag|--unflag|--archive|--delete|--undelete KEY... [--json]
       raindrop mark --bulk-sender|--not-bulk-sender ADDRESS... [--json]

Records your change as a user-state item (rd.msg.seen, rd.msg.flagged, rd.msg.archived,
rd.msg.deleted written by "user"); the next "raindrop sync" sends it to every account
holding the message, once, and records the outcome in rd.imap.push. KEY is a Message-ID
(angle brackets optional) or a JSON key ["email","<id>"].

--bulk-sender puts a sender's mail into the bulk grouping (rd.identity.sender-flags,
bulk: true); --not-bulk-sender keeps it out whatever its headers say. The queue
re-groups that sender's messages.

Examples:
  raindrop mark --seen 20240101.1234@example.org
  raindrop mark --archive '<abc@example.org>' && raindrop sync
  raindrop mark --bulk-sender deals@shop.example`,
  options: Object.fromEntries([...Object.keys(actions), ...Object.keys(senderActions)].map((a) => [a, { type: 'boolean' as const }])),
  async run(ctx, values, positionals) {
    const all = [...Object.keys(actions), ...Object.keys(senderActions)];
    const chosen = all.filter((a) => values[a] === true);
    if (chosen.length !== 1) throw new RaindropError(errorCodes.USAGE, `give exactly one of ${all.map((a) => `--${a}`).join(', ')}`);
    const action = chosen[0] as string;
    const sender = action in senderActions;
    if (positionals.length === 0) throw new RaindropError(errorCodes.USAGE, sender ? 'give at least one sender address' : 'give at least one message key (Message-ID)');
    const [schemaId, field, value] = sender
      ? (['rd.identity.sender-flags', 'bulk', senderActions[action as keyof typeof senderActions]] as const)
      : actions[action as keyof typeof actions];
    const keys = positionals.map(sender ? parseAddress : parseKey);
    const { server, db } = await openDatabase(ctx);
    try {
      const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
      try {
        let written = 0;
        for (const key of keys) {
          const r = await writeValidatedItem(registry, db, { key, schemaId, writer: userWriter, category: 'provider', confidence: userConfidence, source: null, fields: { [field]: value } });
          if (r.written) written++;
        }
        ctx.output.data({ schema: schemaId, value, keys, written }, sender ? `${written} of ${keys.length} senders marked ${action}; "raindrop process" re-groups their mail` : `${written} of ${keys.length} marked ${action}; "raindrop sync" sends it to the server`);
        return exitCodes.ok;
      } finally {
        await registry.close();
      }
    } finally {
      await server.release();
    }
  },
};
