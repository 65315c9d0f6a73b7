import type { JsonValue } from '../../core/index.js';

/** The user's message (web app, `raindrop send`), written by `user`. */
export const outgoingSchema = 'rd.msg.outgoing';
/** What to send, by the extension rd.ext.outgoing. */
export const smtpSchema = 'rd.msg.outgoing.smtp';
/** The sender's record: attempts and outcome. */
export const stateSchema = 'rd.msg.outgoing.state';
export const senderWriter = 'rd.smtp';
export const outgoingWriter = 'user';
export const outgoingConfidence = 2;

export type SenderState = 'sending' | 'sent' | 'failed' | 'retrying' | 'unknown';
/** What a person sees: the sender's state, or the user's own before the sender acts. */
export type OutboxState = 'draft' | 'queued' | SenderState;

export interface Attempt {
  send_request: number;
  worker: string;
  started_at: string;
  ended_at?: string;
  outcome?: 'sent' | 'failed' | 'retry' | 'unknown';
  response?: string;
  response_code?: number;
  error?: string;
  sha256?: string;
  size?: number;
}

export interface StateFields {
  state: SenderState;
  send_request: number;
  attempts: Attempt[];
  next_attempt_at?: string;
  sent_at?: string;
  response?: string;
  error?: string;
  sha256?: string;
  size?: number;
  sent_copy?: { stored: boolean; folder?: string | null; error?: string };
}

export interface Address {
  name?: string;
  address: string;
}

export interface SmtpAttachmentRef {
  doc: string;
  attachment: string;
  filename: string;
  content_type: string;
  size: number;
  forwarded?: boolean;
}

export interface SmtpFields {
  account: string;
  message_id: string;
  send_request: number;
  requested_at: string;
  envelope: { from: string; to: string[] };
  mail: {
    from: Address;
    to: Address[];
    cc: Address[];
    reply_to?: Address;
    subject: string;
    text: string;
    html?: string;
    in_reply_to?: string;
    references: string[];
    attachments: SmtpAttachmentRef[];
  };
  size?: number;
}

export interface OutgoingFields {
  account: string;
  from: Address;
  to: Address[];
  cc?: Address[];
  bcc?: Address[];
  subject: string;
  text: string;
  html?: string;
  attachments?: Array<{ attachment: string; filename: string; content_type?: string }>;
  in_reply_to?: ['email', string];
  forward_of?: ['email', string];
  state: 'draft' | 'send';
  requested_at?: string;
  send_request?: number;
}

export const sendRequestOf = (fields: { send_request?: number } | undefined): number => fields?.send_request ?? 1;

/**
 * The state shown for one outgoing message (the rule couchapp/API.md gives the web app):
 * the sender's record when it is about the user's current send request, else the
 * user's own wish ('draft', or 'queued' once asked to send). A record of 'sending' or
 * 'sent' shows even when the user turned the message back into a draft: cancelling came
 * too late.
 */
export function outboxState(user: OutgoingFields | undefined, state: StateFields | undefined): OutboxState {
  const request = sendRequestOf(user);
  const current = state !== undefined && state.send_request === request ? state.state : undefined;
  if (user?.state !== 'send') return current === 'sending' || current === 'sent' ? current : 'draft';
  return current ?? 'queued';
}

export const asFields = (value: unknown): Record<string, JsonValue> => value as Record<string, JsonValue>;
