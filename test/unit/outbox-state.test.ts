import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../../src/protocols/smtp/errors.js';
import { type OutgoingFields, type StateFields, outboxState } from '../../src/protocols/smtp/items.js';

const user = (state: 'draft' | 'send', send_request?: number) => ({ state, ...(send_request ? { send_request } : {}) }) as OutgoingFields;
const sender = (state: StateFields['state'], send_request = 1) => ({ state, send_request, attempts: [] }) as StateFields;

describe('what a person sees (outboxState)', () => {
  it('shows the user\'s wish until the sender acts on the current request', () => {
    expect(outboxState(user('draft'), undefined)).toBe('draft');
    expect(outboxState(user('send'), undefined)).toBe('queued');
    expect(outboxState(user('send'), sender('retrying'))).toBe('retrying');
    expect(outboxState(user('send'), sender('unknown'))).toBe('unknown');
  });
  it('ignores a record of an older request: a retry is queued again', () => {
    expect(outboxState(user('send', 2), sender('failed', 1))).toBe('queued');
    expect(outboxState(user('send', 2), sender('sent', 2))).toBe('sent');
  });
  it('a cancel that came too late still shows sending or sent', () => {
    expect(outboxState(user('draft'), sender('sending'))).toBe('sending');
    expect(outboxState(user('draft'), sender('sent'))).toBe('sent');
    expect(outboxState(user('draft'), sender('retrying'))).toBe('draft');
  });
});

describe('what a failed SMTP attempt means (classifyFailure)', () => {
  const err = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? 'failed')), fields);
  it('5xx fails with the server\'s words, 4xx retries', () => {
    expect(classifyFailure(err({ code: 'EMESSAGE', responseCode: 550, response: '550 5.7.1 spam' }), true, [])).toMatchObject({ verdict: 'failed', text: '550 5.7.1 spam' });
    expect(classifyFailure(err({ code: 'EMESSAGE', responseCode: 451, response: '451 4.7.1 later' }), true, [])).toMatchObject({ verdict: 'retry', responseCode: 451 });
  });
  it('a lost connection is a retry before the last byte and unknown after it', () => {
    expect(classifyFailure(err({ code: 'ECONNECTION', message: 'Connection closed unexpectedly' }), false, []).verdict).toBe('retry');
    expect(classifyFailure(err({ code: 'ECONNECTION', message: 'Connection closed unexpectedly' }), true, []).verdict).toBe('unknown');
    expect(classifyFailure(err({ code: 'ETIMEDOUT', message: 'Timeout' }), true, []).verdict).toBe('unknown');
  });
  it('a refused login fails and never shows the secret', () => {
    const f = classifyFailure(err({ code: 'EAUTH', responseCode: 535, response: '535 Authentication failed for hunter2', command: 'AUTH PLAIN' }), false, ['hunter2']);
    expect(f.verdict).toBe('failed');
    expect(f.reason).toBe('auth');
    expect(f.text).not.toContain('hunter2');
  });
});
