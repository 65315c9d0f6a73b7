import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxPool, type SandboxPool } from '../../src/sandbox/pool.js';
import { fixtureServices, sourceDoc, testLimits } from '../helpers/sandbox.js';

const subjects = `
export default {
  id: 'test.subjects',
  source_schemas: ['rd.msg.test'],
  emits: ['rd.msg.subject', 'rd.msg.summary'],
  reads: ['rd.msg.other'],
  category: 'provider',
  confidence: 2,
  handler(doc, rd) {
    const other = rd.open(doc.rd_key, 'rd.msg.other');
    const id = rd.emit('rd.msg.subject', { subject: doc.subject.toUpperCase(), other: other ? other.value : null });
    rd.log.info('emitted', id);
    rd.later(doc.n);
  },
  later_handler(values, rd) {
    rd.emit('rd.msg.summary', { total: values.reduce((a, b) => a + b, 0) }, { key: ['summary', 'all'] });
  },
};`;

let pool: SandboxPool;
beforeAll(async () => {
  pool = await startSandboxPool({ sources: [{ origin: 'subjects.js', code: subjects }], size: 2, limits: testLimits });
});
afterAll(async () => {
  await pool.close();
});

describe('sandbox pool', () => {
  it('loads an extension and reports its declaration and code hash', () => {
    expect(pool.extensions).toHaveLength(1);
    expect(pool.extensions[0]).toMatchObject({
      origin: 'subjects.js',
      problems: [],
      declaration: { id: 'test.subjects', source_schemas: ['rd.msg.test'], category: 'provider', confidence: 2, has_later_handler: true, uses_dependencies: false },
    });
    expect(pool.extensions[0]?.codeHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('runs a batch across isolates, in order, with synchronous host reads', async () => {
    const services = fixtureServices({ 'rc!email.ImRvYzMi!rd.msg.other': { value: 'three' } });
    const docs = Array.from({ length: 120 }, (_, i) => sourceDoc(i));
    const results = await pool.run('test.subjects', docs, services);
    expect(results).toHaveLength(120);
    results.forEach((r, i) => {
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.emits).toEqual([{ id: `rc!email.${Buffer.from(`"doc${i}"`).toString('base64url')}!rd.msg.subject`, key: ['email', `doc${i}`], schemaId: 'rd.msg.subject', fields: { subject: `SUBJECT ${i}`, other: i === 3 ? 'three' : null } }]);
      expect(r.later).toEqual([i]);
      expect(r.logs[0]?.message).toContain('emitted rc!email.');
    });
    // Each document's open was gathered: one read for all of them, then the documents ran again.
    expect(services.calls.filter((c) => c.startsWith('open'))).toEqual(['open:120']);
  });

  it('answers preloaded opens inside the pool process, with the same results, and sends the rest to the host', async () => {
    const stored = { 'rc!email.ImRvYzMi!rd.msg.other': { value: 'three' }, 'rc!email.ImRvYzgwIg!rd.msg.other': { value: 'eighty' } };
    const docs = Array.from({ length: 120 }, (_, i) => sourceDoc(i));
    const plain = await pool.run('test.subjects', docs, fixtureServices(stored));
    const services = fixtureServices(stored);
    // The first 60 preloaded, and a schema the extension may not read, which is left out.
    const preload = [...docs.slice(0, 60).map((d) => ({ key: d.rd_key as [string, string], schemaId: 'rd.msg.other' })), { key: ['email', 'doc80'] as [string, string], schemaId: 'rd.msg.secret' }];
    const results = await pool.run('test.subjects', docs, services, preload);
    expect(results).toEqual(plain);
    expect(results[3]).toMatchObject({ ok: true, emits: [{ fields: { other: 'three' } }] });
    expect(results[80]).toMatchObject({ ok: true, emits: [{ fields: { other: 'eighty' } }] });
    // One call for the 60 preloaded (the refused schema not among them), one for what the
    // other 60 documents asked (gathered), not one per document.
    expect(services.calls.filter((c) => c.startsWith('open'))).toEqual(['open:60', 'open:60']);
  });

  it('runs a batch of many jobs (more than the child holds at once), each with the answers at its own keys', async () => {
    // 1,000 documents in jobs of 50: 20 jobs, 4 in the child at a time (2 isolates).
    const stored = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`rc!email.${Buffer.from(`"doc${i}"`).toString('base64url')}!rd.msg.other`, { value: `v${i}` }]));
    const docs = Array.from({ length: 1000 }, (_, i) => sourceDoc(i));
    const services = fixtureServices(stored);
    const results = await pool.run('test.subjects', docs, services, docs.map((d) => ({ key: d.rd_key as [string, string], schemaId: 'rd.msg.other' })));
    results.forEach((r, i) => expect(r).toMatchObject({ ok: true, emits: [{ key: ['email', `doc${i}`], fields: { subject: `SUBJECT ${i}`, other: `v${i}` } }] }));
    // Every open answered inside the pool process from the one preload read.
    expect(services.calls.filter((c) => c.startsWith('open'))).toEqual(['open:1000']);
  });

  it("past a size, sends a job only its own documents' answers: an open at another job's key goes to the host, with the same answer", async () => {
    const code = `export default { id: 'test.neighbour', source_schemas: ['rd.msg.test'], emits: ['rd.msg.subject'], reads: ['rd.msg.other'],
      handler(doc, rd) {
        const [own, next] = rd.openMany([[doc.rd_key, 'rd.msg.other'], [['email', 'doc' + ((doc.n + 50) % 200)], 'rd.msg.other']]);
        rd.emit('rd.msg.subject', { subject: doc.subject, other: own.value + '/' + next.value });
      } };`;
    const local = await startSandboxPool({ sources: [{ origin: 'neighbour.js', code }], size: 2, limits: testLimits });
    try {
      // 200 answers of 12 KB: more than the pool sends to every job (poolProcessLimits).
      const pad = 'x'.repeat(12_000);
      const stored = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`rc!email.${Buffer.from(`"doc${i}"`).toString('base64url')}!rd.msg.other`, { value: `v${i}${pad}` }]));
      const docs = Array.from({ length: 200 }, (_, i) => sourceDoc(i));
      const services = fixtureServices(stored);
      const results = await local.run('test.neighbour', docs, services, docs.map((d) => ({ key: d.rd_key as [string, string], schemaId: 'rd.msg.other' })));
      results.forEach((r, i) => expect(r).toMatchObject({ ok: true, emits: [{ fields: { other: `v${i}${pad}/v${(i + 50) % 200}${pad}` } }] }));
      // Jobs of 50: the document 50 further on is always in another job; what the jobs
      // could not answer is read once for all of them.
      expect(services.calls.filter((c) => c.startsWith('open'))).toEqual(['open:200', 'open:200']);
    } finally {
      await local.close();
    }
  });

  it('reads opens no answer covers once per round for every document, deeper chains in the last round, and never keeps a run that missed one', async () => {
    // Each document follows a chain of links, one open after another: what it asks next
    // depends on the answer before, so no preload can know it.
    const code = `export default { id: 'test.chain', source_schemas: ['rd.msg.test'], emits: ['rd.msg.subject'], reads: ['rd.msg.other'],
      handler(doc, rd) {
        const path = [];
        let next = 'n' + doc.n + '-0';
        while (next) {
          let link;
          // A handler that swallows the failed open must not keep what it made of it.
          try { link = rd.open(['link', next], 'rd.msg.other'); } catch { link = { value: 'swallowed', next: null }; }
          if (!link) break;
          path.push(link.value);
          next = link.next;
        }
        rd.emit('rd.msg.subject', { subject: doc.subject, other: path.join('>') });
      } };`;
    const local = await startSandboxPool({ sources: [{ origin: 'chain.js', code }], size: 2, limits: testLimits });
    try {
      const depth = (n: number) => 1 + (n % 6); // 1 to 6 links: some past the gathering rounds
      const stored: Record<string, Record<string, unknown>> = {};
      for (let n = 0; n < 60; n++) {
        for (let j = 0; j < depth(n); j++) {
          stored[`rc!link.${Buffer.from(`"n${n}-${j}"`).toString('base64url')}!rd.msg.other`] = { value: `v${n}.${j}`, next: j + 1 < depth(n) ? `n${n}-${j + 1}` : null };
        }
      }
      const docs = Array.from({ length: 60 }, (_, i) => sourceDoc(i));
      const services = fixtureServices(stored);
      const results = await local.run('test.chain', docs, services);
      results.forEach((r, n) => expect(r).toMatchObject({ ok: true, emits: [{ fields: { other: Array.from({ length: depth(n) }, (_, j) => `v${n}.${j}`).join('>') } }] }));
      const opens = services.calls.filter((c) => c.startsWith('open'));
      // Three gathering rounds of one read each (60, then the 50 with a second link, then
      // the 40 with a third), then one open per link left, each document on its own.
      expect(opens.slice(0, 3)).toEqual(['open:60', 'open:50', 'open:40']);
      const rest = Array.from({ length: 60 }, (_, n) => Math.max(0, depth(n) - 3)).reduce((a, b) => a + b, 0);
      expect(opens.slice(3)).toEqual(Array.from({ length: rest }, () => 'open:1'));
    } finally {
      await local.close();
    }
  });

  /** Runs a handler that asks `rd.open` in a loop and swallows the failure, on one source
   * document; what each read the pool makes of the services weighs (`weigh`). */
  async function runAsker(id: string, key: string, weigh: (requests: readonly unknown[]) => number) {
    const code = `export default { id: '${id}', source_schemas: ['rd.msg.test'], emits: ['rd.msg.subject'], reads: ['rd.msg.other'],
      handler(doc, rd) {
        for (let i = 0; ; i++) { try { rd.open(['link', ${key} + i], 'rd.msg.other'); } catch {} }
      } };`;
    const local = await startSandboxPool({ sources: [{ origin: `${id}.js`, code }], size: 1, limits: testLimits });
    try {
      const services = fixtureServices();
      const opened: number[] = [];
      const open = services.open.bind(services);
      services.open = async (requests) => (opened.push(weigh(requests)), open(requests));
      const [result] = await local.run(id, [sourceDoc(1)], services);
      return { result, opened };
    } finally {
      await local.close();
    }
  }

  it('bounds what a handler that swallows failed opens in a loop can make the pool gather: it ends at its CPU limit, as without gathering', async () => {
    const { result, opened } = await runAsker('test.asker', "'x'", (requests) => requests.length);
    expect(result).toMatchObject({ ok: false, kind: 'timeout' });
    // Three gathering rounds read at most the per-document bound each.
    const gathered = opened.filter((n) => n > 1);
    expect(gathered.length).toBeLessThanOrEqual(3);
    for (const n of gathered) expect(n).toBeLessThanOrEqual(1_000);
  });

  it('bounds the characters a handler asking with huge keys makes the pool gather: at most 64 KiB of requests per document and round', async () => {
    const { result, opened } = await runAsker('test.big-asker', "'x'.repeat(10000)", (requests) => JSON.stringify(requests).length);
    expect(result).toMatchObject({ ok: false, kind: 'timeout' });
    // Gathered reads (several keys in one request) stay within the bound; the last
    // round asks one key at a time, as without gathering.
    const gathered = opened.filter((n) => n > 20_000);
    expect(gathered.length).toBeGreaterThan(0);
    expect(gathered.length).toBeLessThanOrEqual(3);
    for (const n of gathered) expect(n).toBeLessThanOrEqual(64 * 1024);
  });

  it('runs later_handler with the collected values', async () => {
    const result = await pool.runLater('test.subjects', [1, 2, 3], fixtureServices());
    expect(result).toMatchObject({ ok: true, emits: [{ schemaId: 'rd.msg.summary', key: ['summary', 'all'], fields: { total: 6 } }] });
  });

  it('refuses an unknown extension with a clear error', async () => {
    await expect(pool.run('no.such', [sourceDoc(1)], fixtureServices())).rejects.toMatchObject({ code: 'EXTENSION_INVALID' });
  });
});

describe('ids computed inside the isolate', () => {
  it('match docIdFor for Unicode, nested and unsorted keys', async () => {
    const { docIdFor } = await import('../../src/core/index.js');
    const keys = [['email', 'Grüße 日本 🎉'], ['conv', { b: [1, { z: null, y: true }], a: -0.5e-7 }], ['identity', ['email', 'a@b.org']], ['k', '\u2028"\\']];
    const code = `export default { id: 'ids', source_schemas: ['rd.msg.test'], emits: ['rd.out.x'],
      handler(doc, rd) { for (const key of doc.keys) rd.emit('rd.out.x', {}, { key }); } };`;
    const local = await startSandboxPool({ sources: [{ origin: 'ids.js', code }], size: 1, limits: testLimits });
    try {
      const [result] = await local.run('ids', [sourceDoc(1, { keys })], fixtureServices());
      expect(result?.ok && result.emits.map((e) => e.id)).toEqual(keys.map((k) => docIdFor(k as [string, never], 'rd.out.x')));
    } finally {
      await local.close();
    }
  });
});

describe('rd.retract', () => {
  const code = `export default { id: 'retracts', source_schemas: ['rd.msg.test'], emits: ['rd.msg.summary'],
    handler(doc, rd) { rd.retract(['summary', 'x'], 'rd.msg.summary'); },
    later_handler(values, rd) {
      const [what] = values;
      if (what === 'undeclared') rd.retract(['summary', 'x'], 'rd.account');
      else if (what === 'both') { rd.emit('rd.msg.summary', { n: 1 }, { key: ['summary', 'x'] }); rd.retract(['summary', 'x'], 'rd.msg.summary'); }
      else { rd.emit('rd.msg.summary', { n: 1 }, { key: ['summary', 'kept'] }); rd.retract(['summary', 'gone'], 'rd.msg.summary'); }
    } };`;
  let local: SandboxPool;
  beforeAll(async () => {
    local = await startSandboxPool({ sources: [{ origin: 'retracts.js', code }], size: 1, limits: testLimits });
  });
  afterAll(async () => {
    await local.close();
  });

  it('a later_handler takes back one of its outputs; the id is that of the key and schema', async () => {
    const { docIdFor } = await import('../../src/core/index.js');
    const result = await local.runLater('retracts', ['ok'], fixtureServices());
    expect(result).toMatchObject({ ok: true, emits: [{ key: ['summary', 'kept'] }], retracts: [{ id: docIdFor(['summary', 'gone'], 'rd.msg.summary'), key: ['summary', 'gone'], schemaId: 'rd.msg.summary' }] });
  });

  it('is refused in a handler, for an undeclared schema, and with an emit of the same document', async () => {
    const [inHandler] = await local.run('retracts', [sourceDoc(1)], fixtureServices());
    expect(inHandler).toMatchObject({ ok: false, kind: 'capability', message: expect.stringContaining('later_handler only') });
    expect(await local.runLater('retracts', ['undeclared'], fixtureServices())).toMatchObject({ ok: false, kind: 'capability', message: expect.stringContaining('add it to "emits"') });
    expect(await local.runLater('retracts', ['both'], fixtureServices())).toMatchObject({ ok: false, kind: 'capability', message: expect.stringContaining('both emitted and retracted') });
  });
});

describe('answers the sandbox gives without asking the host', () => {
  // Reads its document's attachment (answered by the pool process from the bytes its job
  // carries) and the user's identities (asked once per call, then answered in the isolate).
  const code = `export default { id: 'reads-raw', source_schemas: ['rd.msg.test'], emits: ['rd.msg.summary'],
    handler(doc, rd) {
      const text = rd.attachment(doc, 'raw', 'text');
      rd.emit('rd.msg.summary', { text, mine: rd.myIdentities().length });
    } };`;
  let local: SandboxPool;
  beforeAll(async () => {
    local = await startSandboxPool({ sources: [{ origin: 'reads-raw.js', code }], size: 1, limits: testLimits });
  });
  afterAll(async () => {
    await local.close();
  });

  const withRaw = (n: number) => sourceDoc(n, { _attachments: { raw: { content_type: 'text/plain', length: 5, stub: true } } });
  /** Fixture services that also say which attachments they hold in memory, and count the
   * host's answers to rd.myIdentities(). */
  function servicesHolding(inMemory: Record<string, Uint8Array>, stored: Record<string, Uint8Array>) {
    const services = fixtureServices({}, stored);
    let identityAnswers = 0;
    return Object.assign(services, {
      cachedAttachment: (id: string, name: string) => inMemory[`${id}/${name}`],
      async myIdentities() {
        identityAnswers++;
        return [['email', 'me@example.org']];
      },
      identityAnswers: () => identityAnswers,
    });
  }
  const summary = (r: Awaited<ReturnType<SandboxPool['run']>>[number] | undefined) => (r?.ok ? r.emits[0]?.fields : r);

  it('sends a reader of attachments the bytes held in memory with its job; the others are asked of the host', async () => {
    const docs = [withRaw(1), withRaw(2), withRaw(3)];
    const id = (n: number) => String(docs[n - 1]?._id);
    const bytes = (s: string) => new Uint8Array(Buffer.from(s));
    // First job: the pool does not know yet that this extension reads attachments.
    const first = servicesHolding({ [`${id(1)}/raw`]: bytes('one-m') }, { [`${id(1)}/raw`]: bytes('one-s'), [`${id(2)}/raw`]: bytes('two-s'), [`${id(3)}/raw`]: bytes('three') });
    expect((await local.run('reads-raw', docs, first)).map(summary)).toEqual([{ text: 'one-s', mine: 1 }, { text: 'two-s', mine: 1 }, { text: 'three', mine: 1 }]);
    expect(first.calls.filter((c) => c.startsWith('attachment'))).toHaveLength(3);
    // It asked the host once for the job's identities, not once per document.
    expect(first.identityAnswers()).toBe(1);

    // Now it does: what the caller holds in memory comes with the job, the rest as before.
    const second = servicesHolding({ [`${id(1)}/raw`]: bytes('one-m'), [`${id(3)}/raw`]: bytes('three-m') }, { [`${id(2)}/raw`]: bytes('two-s') });
    expect((await local.run('reads-raw', docs, second)).map(summary)).toEqual([{ text: 'one-m', mine: 1 }, { text: 'two-s', mine: 1 }, { text: 'three-m', mine: 1 }]);
    expect(second.calls.filter((c) => c.startsWith('attachment'))).toEqual([`attachment:${id(2)}/raw`]);
  });

  it('does not answer from a job\'s attachments what another document asks', async () => {
    const reader = `export default { id: 'reads-other', source_schemas: ['rd.msg.test'], emits: ['rd.msg.summary'],
      handler(doc, rd) { rd.emit('rd.msg.summary', { text: rd.attachment(doc.other, 'raw', 'text') }); } };`;
    const other = await startSandboxPool({ sources: [{ origin: 'reads-other.js', code: reader }], size: 1, limits: testLimits });
    try {
      const [first, second, target] = [withRaw(1), withRaw(2), withRaw(9)];
      const docs = [{ ...first, other: first._id }, { ...second, other: target._id }];
      const services = servicesHolding({ [`${String(first._id)}/raw`]: new Uint8Array(Buffer.from('mine')), [`${String(target._id)}/raw`]: new Uint8Array(Buffer.from('secret')) }, {});
      // The first run shows the pool that this extension reads attachments; the second
      // carries the in-memory ones of its own documents.
      await other.run('reads-other', docs, services);
      const [own, foreign] = await other.run('reads-other', docs, services);
      expect(summary(own)).toEqual({ text: 'mine' });
      // Not one of the documents given: refused, as when the host is asked.
      expect(foreign).toMatchObject({ ok: false, kind: 'capability', message: expect.stringContaining('rd.attachment of document') });
    } finally {
      await other.close();
    }
  });
});

describe('answers the isolate gives itself', () => {
  // Changes what it was answered: the next document must not see the change.
  const code = `export default { id: 'mutates', source_schemas: ['rd.msg.test'], emits: ['rd.msg.summary'], reads: ['rd.msg.other'],
    handler(doc, rd) {
      const other = rd.open(doc.rd_key, 'rd.msg.other');
      const same = rd.openMany([[['email', 'doc0'], 'rd.msg.other']])[0];
      const mine = rd.myIdentities();
      rd.emit('rd.msg.summary', { value: other && other.value, shared: same && same.value, mine: mine.length });
      if (other) other.value = 'changed';
      if (same) same.value = 'changed';
      mine.push(['email', 'changed@example.org']);
    } };`;
  let local: SandboxPool;
  beforeAll(async () => {
    local = await startSandboxPool({ sources: [{ origin: 'mutates.js', code }], size: 1, limits: testLimits });
  });
  afterAll(async () => {
    await local.close();
  });

  it('answers preloaded opens and identities without the host, a fresh copy for every read', async () => {
    const { docIdFor } = await import('../../src/core/index.js');
    const docs = [sourceDoc(0), sourceDoc(1), sourceDoc(2)];
    const stored = Object.fromEntries(docs.map((d, i) => [docIdFor(d.rd_key as [string, string], 'rd.msg.other'), { value: `v${i}` }]));
    const services = fixtureServices(stored);
    const preload = docs.map((d) => ({ key: d.rd_key as [string, string], schemaId: 'rd.msg.other' }));
    const results = await local.run('mutates', docs, services, preload);
    expect(results.map((r) => (r.ok ? r.emits[0]?.fields : r))).toEqual([0, 1, 2].map((i) => ({ value: `v${i}`, shared: 'v0', mine: 1 })));
    // One read for the preload, none from inside the isolate.
    expect(services.calls).toEqual(['open:3']);
  });
});
