import { RaindropError, docIdFor, encodeKeyValue, errorCodes, type RdKey } from '../../core/index.js';
import { bulkGet } from '../../couch/bulk-get.js';
import { type Db, callCouch, useDatabase } from '../../couch/connect.js';
import type { CouchDoc } from '../../couch/documents.js';
import { topLevelFields } from '../../couch/schema-items/merge.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

export const showCommand: Command = {
  name: 'show',
  help: `Usage:
  raindrop show MESSAGE-ID [--json]
  raindrop show MESSAGE-ID --schema SCHEMA
  raindrop show MESSAGE-ID --documents
  raindrop show --list [--limit N]

Prints every document Raindrop holds for one message (its key is ["email",
MESSAGE-ID], the Message-ID without <>; with <> works too): the raw message, the parsed
email, body, thread, conversation and grouping tag, your extensions' outputs, and
the errors extensions had on it, with the conversation summary and the grouping it
belongs to.

  --schema S   print only that document, as stored (JSON): ready for
               "raindrop ext run FILE --doc"
  --documents  print every document of the message as a JSON array: ready for
               "raindrop ext run FILE --open"
  --list       list some messages (Message-ID and subject) to pick from
  --limit N    how many --list prints (default 20)

Examples:
  raindrop show --list --limit 5
  raindrop show '<20020801.1234@example.org>'
  raindrop show 20020801.1234@example.org --schema rd.msg.email > message.json
  raindrop show 20020801.1234@example.org --documents > related.json`,
  options: { schema: { type: 'string' }, documents: { type: 'boolean' }, list: { type: 'boolean' }, limit: { type: 'string' } },
  async run(ctx, values, positionals) {
    const { server, db } = await openDatabase(ctx);
    try {
      if (values.list === true) {
        const limit = Number(values.limit ?? 20);
        if (!Number.isInteger(limit) || limit < 1) throw new RaindropError(errorCodes.USAGE, `--limit takes a positive number, got "${String(values.limit)}"`);
        const messages = await listMessages(db, limit);
        ctx.output.data({ messages }, messages.length === 0 ? 'no parsed messages yet; import mail ("raindrop import PATH") and run "raindrop process"' : messages.map((m) => `${m.message_id}  ${m.subject}`).join('\n'));
        return exitCodes.ok;
      }
      const [given] = positionals;
      if (given === undefined) throw new RaindropError(errorCodes.USAGE, 'usage: raindrop show MESSAGE-ID (or --list to pick one)');
      const messageId = given.trim().replace(/^<(.*)>$/, '$1');
      const docs = await documentsOfKey(db, ['email', messageId]);
      if (docs.length === 0) {
        throw new RaindropError(errorCodes.USAGE, `no message with the Message-ID "${messageId}" in "${ctx.config.db}"; "raindrop show --list" lists some`);
      }
      if (typeof values.schema === 'string') {
        const doc = docs.find((d) => d.rd_schema_id === values.schema);
        if (!doc) throw new RaindropError(errorCodes.USAGE, `the message has no ${values.schema} document; it has: ${docs.map((d) => String(d.rd_schema_id)).join(', ')}`);
        ctx.output.data(doc, JSON.stringify(doc, null, 2));
        return exitCodes.ok;
      }
      if (values.documents === true) {
        ctx.output.data(docs, JSON.stringify(docs, null, 2));
        return exitCodes.ok;
      }
      const of = (schema: string) => docs.find((d) => d.rd_schema_id === schema);
      // conversation_id is the conversation's key (["conv", smallest Message-ID]).
      const convKey = of('rd.msg.conversation')?.conversation_id;
      const convDocId = Array.isArray(convKey) && convKey.length === 2 ? docIdFor(convKey as unknown as RdKey, 'rd.conv.summary') : undefined;
      const groupingId = of('rd.msg.grouping-tag')?.grouping_id;
      const groupingDocId = typeof groupingId === 'string' ? docIdFor(['grouping', groupingId], 'rd.grouping.info') : undefined;
      const linked = await bulkGet(db, [convDocId, groupingDocId].filter((id): id is string => id !== undefined));
      const conversation = convDocId === undefined ? undefined : linked.get(convDocId);
      const grouping = groupingDocId === undefined ? undefined : linked.get(groupingDocId);
      const convId = Array.isArray(convKey) ? convKey[1] : undefined;
      const errors = docs.filter((d) => d.rd_schema_id === 'rd.core.error');
      const derived = docs.filter((d) => d.rd_schema_id !== 'rd.core.error');
      const lines = [
        `message <${messageId}>: ${derived.length} documents, ${errors.length === 0 ? 'no errors' : `errors of ${writersOf(errors[0] as CouchDoc).length} extension(s)`}`,
        ...derived.map((d) => `  ${String(d.rd_schema_id)} (by ${writersOf(d).join(', ')}): ${summarize(topLevelFields(d))}`),
        ...(conversation ? [`conversation ${String(convId)}: ${summarize(topLevelFields(conversation))}`] : []),
        ...(grouping ? [`grouping ${String(groupingId)}: ${summarize(topLevelFields(grouping))}`] : []),
        ...errors.flatMap((e) => errorLines(e)),
        `("--schema S" prints one document in full, "--documents" all of them, "--json" everything)`,
      ];
      ctx.output.data({ message_id: messageId, documents: derived, conversation: conversation ?? null, grouping: grouping ?? null, errors }, lines.join('\n'));
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};

/** Every document of one item: their ids share the prefix `rc!<type>.<value>!`. */
async function documentsOfKey(db: Db, key: ['email', string]): Promise<CouchDoc[]> {
  const prefix = `rc!${key[0]}.${encodeKeyValue(key[1])}!`;
  const page = (await callCouch(db.couch, `reading the documents of ${JSON.stringify(key)}`, () =>
    db.couch.server.request({ db: db.name, path: '_all_docs', qs: { startkey: prefix, endkey: `${prefix}\ufff0`, include_docs: true } }),
  )) as { rows: Array<{ doc?: CouchDoc | null }> };
  return page.rows.map((r) => r.doc).filter((d): d is CouchDoc => !!d);
}

/** Parsed messages (rd.msg.email), by id order, through the primary index (no view). */
async function listMessages(db: Db, limit: number): Promise<Array<{ message_id: string; subject: string }>> {
  const ids: string[] = [];
  let startkey = 'rc!email.';
  for (let skip = 0; ids.length < limit; skip = 1) {
    const page = (await callCouch(db.couch, 'listing messages', () =>
      db.couch.server.request({ db: db.name, path: '_all_docs', qs: { startkey, endkey: 'rc!email.\ufff0', limit: 1000, skip } }),
    )) as { rows: Array<{ id: string }> };
    ids.push(...page.rows.map((r) => r.id).filter((id) => id.endsWith('!rd.msg.email')));
    const last = page.rows.at(-1);
    if (page.rows.length < 1000 || !last) break;
    startkey = last.id;
  }
  const docs = await bulkGet(db, ids.slice(0, limit));
  return [...docs.values()].map((d) => ({ message_id: String(d.message_id ?? (d.rd_key as [string, string])[1]), subject: String(d.subject ?? '') }));
}

function writersOf(doc: CouchDoc): string[] {
  return Object.keys((doc.rd_schema_items ?? {}) as object).map((w) => w || '(fetcher)');
}

function errorLines(doc: CouchDoc): string[] {
  const items = (doc.rd_schema_items ?? {}) as Record<string, { fields?: Record<string, unknown> }>;
  const writers = Object.keys(items);
  return writers.map((w) => {
    const fields = items[w]?.fields ?? (writers.length === 1 ? doc : {});
    return `  error in ${w}: ${String(fields.kind)}: ${String(fields.message)}`;
  });
}

/** A one-line view of an item's fields: long values cut, so the listing stays readable. */
function summarize(fields: Record<string, unknown>): string {
  const parts = Object.entries(fields).map(([k, v]) => {
    const text = JSON.stringify(v) ?? 'undefined';
    return `${k}=${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
  });
  const line = parts.join(' ');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
