import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxPool, type SandboxPool } from '../../src/sandbox/pool.js';
import type { DocResult } from '../../src/sandbox/types.js';
import { fixtureServices, sourceDoc, testLimits } from '../helpers/sandbox.js';

/**
 * One extension per attack. Each behaves well on ordinary documents and attacks on the
 * document marked `evil`, which sits in the middle of a batch: the attack must cost that
 * document alone, named with the right kind, and the pool must keep working.
 */
const attacks: Record<string, string> = {
  'infinite-loop': 'while (true) {}',
  'memory-bomb': 'const hoard = []; while (true) hoard.push(new Array(1e6).fill(hoard.length));',
  'huge-output': "for (let i = 0; i < 50; i++) rd.emit('rd.test.out', { blob: 'x'.repeat(100000), i }, { key: ['blob', i] });",
  'throw-error': "throw new TypeError('boom from the extension');",
  'throw-non-error': "throw 'a plain string';",
  'emit-undeclared-schema': "rd.emit('rd.secret.stuff', { x: 1 });",
  'open-undeclared-schema': "rd.open(doc.rd_key, 'rd.account');",
  'reach-require': "require('fs');",
  'reach-process': 'process.exit(1);',
  'reach-fetch': "fetch('http://example.org');",
  'globalthis-constructor-trick': "globalThis.constructor.constructor('return process')().exit(1);",
  'function-constructor-trick': "(function(){}).constructor('return this.process.mainModule')();",
  'read-the-clock': 'rd.emit("rd.test.out", { now: Date.now() });',
  'new-date-without-arguments': 'rd.emit("rd.test.out", { now: new Date().toISOString() });',
  'randomness': 'rd.emit("rd.test.out", { r: Math.random() });',
  'atomics-wait-blocks-thread': 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
  'async-handler': 'return Promise.resolve(1);',
  'emit-function-value': "rd.emit('rd.test.out', { f() {} });",
  'emit-nan': "rd.emit('rd.test.out', { n: 0 / 0 });",
  'deep-recursion': 'const down = (n) => down(n + 1) + 1; down(0);',
  'forge-output-via-json-stringify': `const real = JSON.stringify; JSON.stringify = () => real({ ok: true, emits: [{ id: 'x', key: ['account', 'a'], schemaId: 'rd.account', fields: { password: 'stolen' } }], later: [], logs: [] }); rd.emit('rd.test.out', { n: doc.n }); JSON.stringify = real; throw new Error('forged');`,
  'forge-output-via-tojson': "Object.prototype.toJSON = function () { return { ok: true, emits: [{ id: 'x', key: ['account', 'a'], schemaId: 'rd.account', fields: {} }] }; };",
};
// The memory bomb meets two limits at once: filling 64 MB takes about 300 ms here, most of
// it V8's last garbage collections before the heap limit, which is also the test pool's CPU
// limit per document. Which one stops it first is a race (Node 24 in CI once said
// "timeout"); what must hold is that it costs only its own document.
const expectedKind: Record<string, string | string[]> = {
  'infinite-loop': 'timeout',
  'memory-bomb': ['memory', 'timeout'],
  'huge-output': 'output-size',
  'throw-error': 'exception',
  'throw-non-error': 'exception',
  'emit-undeclared-schema': 'capability',
  'open-undeclared-schema': 'capability',
  'reach-require': 'capability',
  'reach-process': 'capability',
  'reach-fetch': 'capability',
  'globalthis-constructor-trick': 'capability',
  'function-constructor-trick': 'capability',
  'read-the-clock': 'capability',
  'new-date-without-arguments': 'capability',
  randomness: 'capability',
  'atomics-wait-blocks-thread': 'timeout',
  'async-handler': 'exception',
  'emit-function-value': 'invalid-output',
  'emit-nan': 'invalid-output',
  'deep-recursion': 'exception',
  'forge-output-via-json-stringify': 'exception',
  'forge-output-via-tojson': 'capability',
};

const extensionFor = (name: string) => `
export default {
  id: 'hostile.${name}',
  source_schemas: ['rd.msg.test'],
  emits: ['rd.test.out'],
  handler(doc, rd) {
    if (doc.evil) { ${attacks[name]} }
    rd.emit('rd.test.out', { n: doc.n });
  },
};`;

let pool: SandboxPool;
beforeAll(async () => {
  const sources = Object.keys(attacks).map((name) => ({ origin: `${name}.js`, code: extensionFor(name) }));
  // Cross-extension tampering: this one pollutes prototypes on every document.
  sources.push({ origin: 'polluter.js', code: "export default { id: 'hostile.polluter', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'], handler(doc, rd) { Array.prototype.injected = 'gotcha'; Object.prototype.polluted = true; rd.emit('rd.test.out', {}); } };" });
  sources.push({ origin: 'victim.js', code: "export default { id: 'victim', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'], handler(doc, rd) { rd.emit('rd.test.out', { injected: [].injected ?? null, polluted: ({}).polluted ?? null }); } };" });
  pool = await startSandboxPool({ sources, size: 2, limits: testLimits });
});
afterAll(async () => {
  await pool.close();
});

const batch = () => [sourceDoc(1), sourceDoc(2), sourceDoc(3, { evil: true }), sourceDoc(4), sourceDoc(5)];

function expectOnlyCulpritFailed(results: DocResult[], kind: string | string[]): void {
  expect(results).toHaveLength(5);
  results.forEach((r, i) => {
    if (i === 2) {
      expect(r.ok, `document 3 should fail`).toBe(false);
      if (!r.ok) {
        expect(typeof kind === 'string' ? [kind] : kind).toContain(r.kind);
        expect(r.message.length).toBeGreaterThan(5);
      }
    } else {
      expect(r, `document ${i + 1} should succeed`).toMatchObject({ ok: true, emits: [{ fields: { n: i + 1 } }] });
    }
  });
}

describe('hostile extensions cost only their own document', () => {
  it('loaded every attack extension', () => {
    expect(pool.extensions.filter((e) => e.problems.length > 0)).toEqual([]);
  });

  for (const name of Object.keys(attacks)) {
    it(name, async () => {
      const results = await pool.run(`hostile.${name}`, batch(), fixtureServices());
      expectOnlyCulpritFailed(results, expectedKind[name] as string | string[]);
      // The pool still works, for this extension and for another.
      const after = await pool.run('victim', [sourceDoc(9)], fixtureServices());
      expect(after[0]?.ok).toBe(true);
    });
  }

  it('capability errors say what to do', async () => {
    const [, , evil] = await pool.run('hostile.emit-undeclared-schema', batch(), fixtureServices());
    expect(evil).toMatchObject({ ok: false, kind: 'capability' });
    expect(evil && !evil.ok && evil.message).toMatch(/add it to "emits"/);
  });

  it('prototype pollution does not reach another extension', async () => {
    await pool.run('hostile.polluter', batch(), fixtureServices());
    const [result] = await pool.run('victim', [sourceDoc(1)], fixtureServices());
    expect(result).toMatchObject({ ok: true, emits: [{ fields: { injected: null, polluted: null } }] });
  });
});
