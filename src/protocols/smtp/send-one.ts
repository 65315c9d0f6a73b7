import type { AccountSettings } from '../../config/index.js';
import { RaindropError, docIdFor, errorCodes, type JsonValue, type Logger, type RdKey } from '../../core/index.js';
import { bulkGet, getDoc } from '../../couch/bulk-get.js';
import { bulkWrite } from '../../couch/bulk-write.js';
import type { CouchDoc } from '../../couch/documents.js';
import type { Db } from '../../couch/connect.js';
import { readAttachment } from '../../couch/read-attachment.js';
import { itemsOf } from '../../couch/schema-items/merge.js';
import type { SchemaRegistry } from '../../schema/registry.js';
import { rawSchemaId } from '../store-raw.js';
import { type ItemUpdate, planItemUpdates, updateItems } from '../write-items.js';
import { type Composed, composeMessage } from './compose.js';
import { classifyFailure } from './errors.js';
import { type Attempt, type OutgoingFields, type SmtpFields, type StateFields, outgoingSchema, outgoingWriter, sendRequestOf, senderWriter, smtpSchema, stateSchema } from './items.js';
import type { SmtpLimits } from './limits.js';
import { storeSentCopy } from './sent-copy.js';
import type { SmtpLink } from './transport.js';
import { workerGone } from './worker-id.js';

export interface SendContext {
  registry: SchemaRegistry;
  db: Db;
  accounts: Readonly<Record<string, AccountSettings>>;
  logger: Logger;
  limits: SmtpLimits;
  worker: string;
  now(): number;
  /** The account's SMTP connection (opened once per account by the sender). */
  link(account: AccountSettings): Promise<SmtpLink>;
}

/** What happened to one message in this pass; `wakeAt` when it needs another look later. */
export interface StepResult {
  outcome: 'idle' | 'busy' | 'sent' | 'failed' | 'retrying' | 'unknown';
  wakeAt?: number;
}

const extensionWriter = 'rd.ext.outgoing';

/** The documents the sender reads for one message (a pass reads many at once). */
export function outgoingDocIds(messageId: string): { user: string; smtp: string; state: string; raw: string } {
  const key: RdKey = ['email', messageId];
  return { user: docIdFor(key, outgoingSchema), smtp: docIdFor(key, smtpSchema), state: docIdFor(key, stateSchema), raw: docIdFor(key, rawSchemaId) };
}

/** The sender's record as this pass knows it. */
interface Held {
  doc: CouchDoc | undefined;
}
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One pass of the state machine of one outgoing message (key ["email", id]):
 *
 *   user asks (state 'send') -> [queued] -> sending -> sent | failed | retrying | unknown
 *
 * The attempt is recorded ('sending', guarded by the document's revision, so of two
 * senders only one wins) before the SMTP transaction starts; its outcome after. An
 * attempt found without an outcome whose sender is gone becomes 'unknown' and is never
 * sent again unless the user raises send_request. Re-running this at any point sends
 * nothing twice.
 */
export async function processOutgoing(ctx: SendContext, messageId: string, prefetched?: ReadonlyMap<string, CouchDoc>): Promise<StepResult> {
  const key: RdKey = ['email', messageId];
  const ids = outgoingDocIds(messageId);
  const docs = prefetched ?? (await bulkGet(ctx.db, Object.values(ids)));
  // The sender's record as last read or written: writes are guarded by its revision.
  const held: Held = { doc: docs.get(ids.state) };
  const user = itemsOf(docs.get(ids.user)).get(outgoingWriter)?.fields as unknown as OutgoingFields | undefined;
  const plan = itemsOf(docs.get(ids.smtp)).get(extensionWriter)?.fields as unknown as SmtpFields | undefined;
  const state = itemsOf(docs.get(ids.state)).get(senderWriter)?.fields as unknown as StateFields | undefined;
  const request = sendRequestOf(user);
  const now = ctx.now();

  if (state && state.send_request === request) {
    switch (state.state) {
      case 'sent':
        if (!state.sent_copy && plan) await finishSentCopy(ctx, key, held, plan, state, false);
        return { outcome: 'sent' };
      case 'failed':
      case 'unknown':
        return { outcome: state.state };
      case 'sending': {
        const open = state.attempts.at(-1);
        if (!open || open.outcome !== undefined) return { outcome: 'busy' };
        if (open.worker === ctx.worker) return { outcome: 'busy' };
        const started = Date.parse(open.started_at);
        if (!workerGone(open.worker, ctx.worker) && now - started < ctx.limits.attemptStaleMs) return { outcome: 'busy', wakeAt: started + ctx.limits.attemptStaleMs };
        await settle(ctx, key, held, open, { outcome: 'unknown', error: 'the sender stopped during this attempt; the server may have the message: check before sending again ("raindrop outbox retry")' }, 'unknown');
        ctx.logger.warn('an attempt of an outgoing message ended without an outcome: unknown, not sent again automatically', { message: messageId });
        return { outcome: 'unknown' };
      }
      case 'retrying': {
        const due = Date.parse(state.next_attempt_at ?? iso(now));
        if (due > now) return { outcome: 'retrying', wakeAt: due };
        break;
      }
    }
  }
  if (user?.state !== 'send') return { outcome: 'idle' };
  // The protocol document of this very request (rd.ext.outgoing runs in the queue).
  if (!plan || plan.send_request !== request || plan.requested_at !== user.requested_at) return { outcome: 'idle' };

  const account = ctx.accounts[plan.account];
  const rawStored = docs.get(ids.raw);
  const ourAttempts = state?.attempts ?? [];
  const refuse = async (error: string) => {
    await writeState(ctx, key, held, (current) => ({ ...(current ?? {}), state: 'failed', send_request: request, attempts: current?.attempts ?? [], error }));
    ctx.logger.warn('outgoing message refused before sending', { message: messageId, error });
    return { outcome: 'failed' as const };
  };
  if (!account) return refuse(`account "${plan.account}" is not configured for this sender; add it ("raindrop account add") and ask again ("raindrop outbox retry")`);
  if (!account.smtp) return refuse(`account "${plan.account}" has no SMTP settings; add them ("raindrop account add ${plan.account} ... --smtp-host HOST") and ask again`);
  if (rawStored && ourAttempts.length === 0) return refuse(`the Message-ID ${messageId} belongs to a message already stored; write the message again under a new Message-ID`);

  let composed: Composed;
  try {
    composed = await composeMessage(plan, (doc, name) => readAttachment(ctx.db, doc, name));
  } catch (err) {
    return refuse(`the message could not be composed: ${(err as Error).message}`);
  }

  // The attempt, recorded before the SMTP transaction. Guarded by the revision: a second
  // sender that got here at the same time loses the write and backs off.
  const attempt: Attempt = { send_request: request, worker: ctx.worker, started_at: iso(now), sha256: composed.sha256, size: composed.bytes.length };
  const claimed = await writeState(ctx, key, held, (current) => {
    if (current && current.send_request === request && current.state !== 'retrying') return 'keep';
    if (current?.state === 'retrying' && current.send_request === request && Date.parse(current.next_attempt_at ?? attempt.started_at) > now) return 'keep';
    const { next_attempt_at: _n, error: _e, response: _r, ...rest } = current ?? ({} as Partial<StateFields>);
    return { ...rest, state: 'sending', send_request: request, attempts: [...(current?.attempts ?? []), attempt], sha256: composed.sha256, size: composed.bytes.length };
  });
  if (!claimed) return { outcome: 'busy' };

  let handedOver = false;
  let link: SmtpLink | undefined;
  try {
    link = await ctx.link(account);
    const info = await link.send(plan.envelope, composed.bytes, () => (handedOver = true));
    const sentAt = ctx.now();
    const rejected = info.rejected.length > 0 ? `; refused recipients: ${info.rejected.join(', ')}` : '';
    await settle(ctx, key, held, attempt, { outcome: 'sent', ended_at: iso(sentAt), response: `${info.response}${rejected}`, response_code: Number(info.response.slice(0, 3)) || 250 }, 'sent', { sent_at: iso(sentAt), response: `${info.response}${rejected}` });
    ctx.logger.info('sent', { message: messageId, account: account.name, response: info.response });
    const stateNow = { state: 'sent', send_request: request, attempts: [], sha256: composed.sha256 } as StateFields;
    await finishSentCopy(ctx, key, held, plan, stateNow, rawStored === undefined, composed);
    return { outcome: 'sent' };
  } catch (err) {
    const failure = classifyFailure(err, handedOver, link ? [link.secret] : []);
    const tries = [...ourAttempts, attempt].filter((a) => a.send_request === request).length;
    const ended = iso(ctx.now());
    const fields = { ended_at: ended, error: failure.text, ...(failure.responseCode === undefined ? {} : { response_code: failure.responseCode }) };
    if (failure.verdict === 'retry' && tries < ctx.limits.maxAttempts) {
      const wakeAt = ctx.now() + Math.min(ctx.limits.retryFirstMs * 2 ** (tries - 1), ctx.limits.retryMaxMs);
      await settle(ctx, key, held, attempt, { outcome: 'retry', ...fields }, 'retrying', { next_attempt_at: iso(wakeAt), error: failure.text });
      ctx.logger.warn('sending failed for now; trying again later', { message: messageId, error: failure.text, at: iso(wakeAt) });
      return { outcome: 'retrying', wakeAt };
    }
    const verdict = failure.verdict === 'retry' ? 'failed' : failure.verdict;
    const error = failure.verdict === 'retry' ? `gave up after ${tries} attempts: ${failure.text}` : failure.text;
    await settle(ctx, key, held, attempt, { outcome: verdict, ...fields, error }, verdict, { error });
    ctx.logger.warn(verdict === 'unknown' ? 'the connection failed after the message was handed over: outcome unknown' : 'sending failed', { message: messageId, error });
    return { outcome: verdict };
  }
}

type StateNext = (current: StateFields | undefined) => StateFields | 'keep';

/**
 * One write of the sender's record, guarded by the revision last seen (`held`): no read
 * first when this pass already holds the document. False when `next` declined (another
 * sender moved it meanwhile). A 409 re-reads and asks `next` again.
 */
async function writeState(ctx: SendContext, key: RdKey, held: Held, next: StateNext): Promise<boolean> {
  let declined = false;
  const update: ItemUpdate = {
    key,
    schemaId: stateSchema,
    writer: senderWriter,
    next(current) {
      const result = next(current as unknown as StateFields | undefined);
      declined = result === 'keep';
      return result === 'keep' ? 'keep' : (result as unknown as Record<string, JsonValue>);
    },
  };
  const id = docIdFor(key, stateSchema);
  const plan = await planItemUpdates(ctx.registry, new Map(held.doc ? [[id, held.doc]] : []), [update]);
  if (declined) return false;
  const doc = plan.docs[0];
  if (!doc) return true;
  const [result] = await bulkWrite(ctx.db, [doc]);
  if (result?.ok) {
    held.doc = { ...doc, _rev: result.rev };
    return true;
  }
  if (!result?.conflict) throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${id} failed: ${result ? `${result.error}: ${result.reason}` : 'no result'}`);
  declined = false;
  const written = await updateItems(ctx.registry, ctx.db, [update]);
  held.doc = await getDoc(ctx.db, id);
  return written > 0 && !declined;
}

/** Records the outcome of `attempt` (found by its sender and start) and the new state. */
async function settle(ctx: SendContext, key: RdKey, held: Held, attempt: Attempt, result: Partial<Attempt>, state: StateFields['state'], extra: Partial<StateFields> = {}): Promise<void> {
  await writeState(ctx, key, held, (current) => {
    const base = current ?? { state, send_request: attempt.send_request, attempts: [attempt] };
    const attempts = base.attempts.map((a) => (a.worker === attempt.worker && a.started_at === attempt.started_at ? { ...a, ...result } : a));
    const { next_attempt_at: _n, error: _e, ...rest } = base;
    return { ...rest, ...extra, state, attempts };
  });
}

async function finishSentCopy(ctx: SendContext, key: RdKey, held: Held, plan: SmtpFields, state: StateFields, rawAbsent: boolean, composed?: Composed): Promise<void> {
  const account = ctx.accounts[plan.account];
  let copy: StateFields['sent_copy'];
  try {
    const bytes = composed ?? (await composeMessage(plan, (doc, name) => readAttachment(ctx.db, doc, name)));
    if (state.sha256 !== undefined && bytes.sha256 !== state.sha256) {
      copy = { stored: false, error: 'the message changed after it was sent (an extension update); the sent copy was not kept' };
    } else {
      copy = await storeSentCopy(ctx.registry, ctx.db, account, bytes.bytes, String(key[1]), ctx.logger, rawAbsent);
    }
  } catch (err) {
    copy = { stored: false, error: (err as Error).message };
  }
  await writeState(ctx, key, held, (current) => (current ? { ...current, sent_copy: copy } : 'keep'));
}
