import { callCouch, type Db } from '../../couch/connect.js';
import { type OutboxState, type OutgoingFields, type SenderState, type StateFields, outboxState, outgoingSchema, stateSchema } from './items.js';

/** One outgoing message as the outbox view (couchapp rd_outbox/outbox) shows it. */
export interface OutboxEntry {
  messageId: string;
  state: OutboxState;
  userState: 'draft' | 'send' | undefined;
  sendRequest: number;
  account: string | undefined;
  subject: string | undefined;
  to: string[];
  requestedAt: string | null;
  /** The sender's record, when there is one for the current request. */
  senderState: SenderState | undefined;
  nextAttemptAt: string | null;
  error: string | null;
  /** The sender still has work on it: send, retry, look at a stale attempt, file the copy. */
  needsSender: boolean;
}

interface Row {
  key: [string, string];
  value: Record<string, unknown>;
}

/** Every outgoing message with its state, from the outbox view (a rare lookup: the CLI,
 * the sender's start). Without `ids`, the whole outbox. */
export async function readOutbox(db: Db, ids?: readonly string[]): Promise<OutboxEntry[]> {
  const rows: Row[] = [];
  const query = async (qs: Record<string, unknown>) => {
    const res = (await callCouch(db.couch, 'reading the outbox', () => db.couch.server.request({ db: db.name, path: '_design/rd_outbox/_view/outbox', qs }))) as { rows: Row[] };
    rows.push(...res.rows);
  };
  if (ids === undefined) await query({});
  else for (const id of ids) await query({ startkey: JSON.stringify([id]), endkey: JSON.stringify([id, {}]) });
  const byId = new Map<string, { user?: Record<string, unknown>; state?: Record<string, unknown>; smtp?: Record<string, unknown> }>();
  for (const row of rows) {
    const [id, schema] = row.key;
    const entry = byId.get(id) ?? {};
    if (schema === outgoingSchema) entry.user = row.value;
    else if (schema === stateSchema) entry.state = row.value;
    else entry.smtp = row.value;
    byId.set(id, entry);
  }
  return [...byId].map(([messageId, { user, state, smtp }]) => {
    const request = typeof user?.send_request === 'number' ? user.send_request : 1;
    const userState = user?.state === 'send' || user?.state === 'draft' ? user.state : undefined;
    const current = state && state.send_request === request ? (state.state as SenderState) : undefined;
    const shown: OutboxState = outboxState(
      userState === undefined ? undefined : ({ state: userState, send_request: request } as OutgoingFields),
      state === undefined ? undefined : ({ state: state.state, send_request: state.send_request, attempts: [] } as unknown as StateFields),
    );
    const needsSender = (userState === 'send' && smtp !== undefined && (current === undefined || current === 'retrying')) || current === 'sending' || (current === 'sent' && state?.sent_copy !== true);
    return {
      messageId,
      state: shown,
      userState,
      sendRequest: request,
      account: typeof user?.account === 'string' ? user.account : undefined,
      subject: typeof user?.subject === 'string' ? user.subject : undefined,
      to: Array.isArray(user?.to) ? (user.to as Array<{ address: string }>).map((a) => a.address) : [],
      requestedAt: typeof user?.requested_at === 'string' ? user.requested_at : null,
      senderState: current,
      nextAttemptAt: current === 'retrying' && typeof state?.next_attempt_at === 'string' ? state.next_attempt_at : null,
      error: current !== undefined && typeof state?.error === 'string' ? state.error : null,
      needsSender,
    };
  });
}
