import { describe, expect, it } from 'vitest';
import { messageOfRound } from '../../bench/mail-memory.bench.js';
import { messageKey } from '../../src/protocols/message-key.js';

const message = Buffer.from([
  'From: Jane Doe <jane@example.org>',
  'Subject: Re: a patch',
  'Message-ID: <abc@example.org>',
  'In-Reply-To: <root@example.org>',
  'References: <root@example.org>',
  '\t<mid@example.org>',
  '',
  'body <not-an-id@example.org>',
  '',
].join('\r\n'), 'latin1');

describe('the memory benchmark\'s rounds of the corpus', () => {
  it('keep round 0 as it is', () => {
    expect(messageOfRound(message, 0)).toBe(message);
  });

  it('move every id of a later round into its own namespace, threads intact, body untouched', () => {
    const r2 = messageOfRound(message, 2).toString('latin1');
    expect(r2).toContain('Message-ID: <r2.abc@example.org>');
    expect(r2).toContain('In-Reply-To: <r2.root@example.org>');
    expect(r2).toMatch(/References: <r2\.root@example\.org>\s+<r2\.mid@example\.org>/);
    expect(r2).toContain('X-Raindrop-Bench-Round: 2');
    expect(r2.endsWith('\r\n\r\nbody <not-an-id@example.org>\r\n')).toBe(true);
    const k = messageKey(Buffer.from(r2, 'latin1'));
    expect(k.ok && k.key[1]).toBe('r2.abc@example.org');
  });

  it('make a message without a Message-ID new in every round (its key is a hash of its bytes)', () => {
    const bare = Buffer.from('From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n', 'latin1');
    const keys = [0, 1, 2].map((r) => { const k = messageKey(messageOfRound(bare, r)); return k.ok ? k.key[1] : ''; });
    expect(new Set(keys).size).toBe(3);
  });
});
