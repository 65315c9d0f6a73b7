import { describe, expect, it } from 'vitest';
import { startSandboxPool } from '../../src/sandbox/pool.js';
import { fixtureServices, sourceDoc, testLimits } from '../helpers/sandbox.js';

const good = `export default { id: 'good', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'],
  handler(doc, rd) { rd.emit('rd.test.out', { n: doc.n, when: new Date(Date.UTC(2001, 0, doc.n)).toISOString() }); } };`;

describe('faults around the pool', () => {
  it('survives the sandbox process dying mid-batch and names the document that killed it', async () => {
    // Fake fault beside the real ones: isolated-vm's process-killing faults cannot be
    // triggered on demand, so the child is told to SIGKILL itself on a marked document.
    const pool = await startSandboxPool({ sources: [{ origin: 'good.js', code: good }], size: 2, limits: testLimits, testHooks: { crashMarker: 'KILL-THE-SANDBOX' } });
    try {
      const docs = [sourceDoc(1), sourceDoc(2), sourceDoc(3, { note: 'KILL-THE-SANDBOX' }), sourceDoc(4)];
      const results = await pool.run('good', docs, fixtureServices());
      expect(results.map((r) => (r.ok ? 'ok' : r.kind))).toEqual(['ok', 'ok', 'crash', 'ok']);
      expect(pool.restarts).toBeGreaterThanOrEqual(1);
      const after = await pool.run('good', [sourceDoc(7)], fixtureServices());
      expect(after[0]).toMatchObject({ ok: true, emits: [{ fields: { n: 7, when: '2001-01-07T00:00:00.000Z' } }] });
    } finally {
      await pool.close();
    }
  });

  it('answers a batch whose job failed inside the sandbox process: that document fails, the others run', async () => {
    // Fake fault: the child's job rejects (as when no new isolate can be made); its
    // "fatal" message was ignored once started, and the batch waited forever.
    const pool = await startSandboxPool({ sources: [{ origin: 'good.js', code: good }], size: 2, limits: testLimits, testHooks: { failJobMarker: 'FAIL-THE-JOB' } });
    try {
      const docs = [sourceDoc(1), sourceDoc(2, { note: 'FAIL-THE-JOB' }), sourceDoc(3), sourceDoc(4)];
      const results = await pool.run('good', docs, fixtureServices());
      expect(results.map((r) => (r.ok ? 'ok' : r.kind))).toEqual(['ok', 'crash', 'ok', 'ok']);
    } finally {
      await pool.close();
    }
  });

  it('reports broken files and still runs the good ones', async () => {
    const sources = [
      { origin: 'good.js', code: good },
      { origin: 'syntax.js', code: 'export default { id: "x", handler( {' },
      { origin: 'no-default.js', code: 'export const handler = () => 1;' },
      { origin: 'bad-fields.js', code: "export default { id: 'Bad Id', source_schemas: 'rd.msg.test', emits: [1], category: 'boss', confidence: 'high', handler: 3, sourceSchemas: [] };" },
      { origin: 'imports.js', code: "import fs from 'fs'; export default { id: 'imp', source_schemas: ['a.b'], handler() {} };" },
      { origin: 'top-level-loop.js', code: "while (true) {} export default {};" },
      { origin: 'top-level-bomb.js', code: "const a = []; while (true) a.push(new Array(1e6).fill(1)); export default {};" },
      { origin: 'duplicate.js', code: good },
    ];
    const pool = await startSandboxPool({ sources, size: 1, limits: testLimits });
    try {
      const byOrigin = Object.fromEntries(pool.extensions.map((e) => [e.origin, e.problems.join(' | ')]));
      expect(byOrigin['good.js']).toBe('');
      expect(byOrigin['syntax.js']).toMatch(/SyntaxError|Unexpected/);
      expect(byOrigin['no-default.js']).toMatch(/export default/);
      expect(byOrigin['bad-fields.js']).toMatch(/id: must be/);
      expect(byOrigin['bad-fields.js']).toMatch(/source_schemas: must be an array/);
      expect(byOrigin['bad-fields.js']).toMatch(/category: must be/);
      expect(byOrigin['bad-fields.js']).toMatch(/confidence: must be a number/);
      expect(byOrigin['bad-fields.js']).toMatch(/handler: must be a function/);
      expect(byOrigin['bad-fields.js']).toMatch(/sourceSchemas: .*did you mean "source_schemas"/);
      expect(byOrigin['imports.js']).toMatch(/import "fs" is not allowed/);
      expect(byOrigin['top-level-loop.js']).toMatch(/top-level code ran too long/);
      expect(byOrigin['top-level-bomb.js']).toMatch(/exhausted/);
      expect(byOrigin['duplicate.js']).toMatch(/already used by good\.js/);
      const results = await pool.run('good', [sourceDoc(1)], fixtureServices());
      expect(results[0]?.ok).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('gives the same output for the same input, run after run', async () => {
    const pool = await startSandboxPool({ sources: [{ origin: 'good.js', code: good }], size: 2, limits: testLimits });
    try {
      const docs = Array.from({ length: 30 }, (_, i) => sourceDoc(i));
      const first = await pool.run('good', docs, fixtureServices());
      const second = await pool.run('good', docs, fixtureServices());
      expect(second).toEqual(first);
    } finally {
      await pool.close();
    }
  });
});
