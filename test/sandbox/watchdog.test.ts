import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxPool, type SandboxPool } from '../../src/sandbox/pool.js';
import type { DocResult } from '../../src/sandbox/types.js';
import { fixtureServices, sourceDoc, testLimits } from '../helpers/sandbox.js';

/**
 * Extensions that try to hide their progress from the watchdog, which would switch off
 * their own time limits (issue 11): each loops forever on the document marked `evil` and
 * must be stopped at the limit, costing that document alone.
 */
const body = (extra: string) => `
    if (doc.evil) { ${extra} }
    rd.emit('rd.test.out', { n: doc.n });`;

const hostile: Record<string, string> = {
  // The probe of issue 11: progress never leaves 0, so no limit ever fired.
  'replaces-atomics-store': `
Atomics.store = function () { return 0; };
export default { id: 'hide.replace', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'],
  handler(doc, rd) { ${body('while (true) {}')} } };`,
  // Wraps Atomics.store to get hold of the progress counter, then fakes progress from the loop.
  'fakes-progress-with-a-stolen-counter': `
const realStore = Atomics.store;
let counter;
Atomics.store = function (array, index, value) { counter = array; return realStore(array, index, value); };
export default { id: 'hide.fake', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'],
  handler(doc, rd) { ${body('if (counter) { for (let n = 0; ; n++) realStore(counter, 0, (n & 1) + 1); } while (true) {}')} } };`,
  // Works where the sandbox itself reads the declaration, while no document is running.
  'loops-in-a-getter-read-between-documents': `
let reads = 0;
const handler = (doc, rd) => { ${body('while (true) {}')} };
export default { id: 'hide.getter', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'],
  get handler() { reads += 1; if (reads > 1) { while (true) {} } return handler; } };`,
};

let pool: SandboxPool;
beforeAll(async () => {
  const sources = Object.entries(hostile).map(([name, code]) => ({ origin: `${name}.js`, code }));
  sources.push({ origin: 'well-behaved.js', code: "export default { id: 'well-behaved', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'], handler(doc, rd) { rd.emit('rd.test.out', { n: doc.n }); } };" });
  pool = await startSandboxPool({ sources, size: 1, limits: testLimits });
}, 30_000);
afterAll(async () => {
  await pool?.close();
});

const batch = () => [sourceDoc(1), sourceDoc(2), sourceDoc(3, { evil: true }), sourceDoc(4), sourceDoc(5)];

function expectOnlyCulpritStopped(results: DocResult[]): void {
  expect(results).toHaveLength(5);
  results.forEach((r, i) => {
    if (i === 2) expect(r).toMatchObject({ ok: false, kind: 'timeout' });
    else expect(r, `document ${i + 1} should succeed`).toMatchObject({ ok: true, emits: [{ fields: { n: i + 1 } }] });
  });
}

describe('an extension cannot switch off its own time limits', () => {
  it.each(['replaces-atomics-store', 'fakes-progress-with-a-stolen-counter'])('%s: stopped at the limit, only its document fails', async (name) => {
    const id = name === 'replaces-atomics-store' ? 'hide.replace' : 'hide.fake';
    const started = Date.now();
    expectOnlyCulpritStopped(await pool.run(id, batch(), fixtureServices()));
    // Well within the bound the host enforces for a call of 5 documents (6 × the limit);
    // the limit itself is 300 ms of CPU.
    expect(Date.now() - started).toBeLessThan(6 * testLimits.wallMsPerDoc);
    expect((await pool.run('well-behaved', [sourceDoc(9)], fixtureServices()))[0]?.ok).toBe(true);
  }, 20_000);

  it('loops-in-a-getter-read-between-documents: the declaration is read once, the batch finishes', async () => {
    const started = Date.now();
    const results = await pool.run('hide.getter', batch(), fixtureServices());
    expectOnlyCulpritStopped(results);
    expect(Date.now() - started).toBeLessThan(6 * testLimits.wallMsPerDoc);
  }, 20_000);

  it('an extension that loops while its declaration is read at load time is refused, and the pool starts', async () => {
    // Loops where the sandbox reads the declaration, at load time, before any document.
    const looping = { origin: 'loops-at-registration.js', code: "export default { get id() { while (true) {} }, source_schemas: ['rd.msg.test'], emits: ['rd.test.out'], handler() {} };" };
    const wellBehaved = { origin: 'well-behaved.js', code: "export default { id: 'well-behaved', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'], handler(doc, rd) { rd.emit('rd.test.out', { n: doc.n }); } };" };
    const own = await startSandboxPool({ sources: [looping, wellBehaved], size: 1, limits: testLimits });
    try {
      const refused = own.extensions.find((e) => e.origin === 'loops-at-registration.js');
      expect(refused?.declaration).toBeUndefined();
      expect(refused?.problems.join(' ')).toMatch(/too long|timed out/i);
      expect((await own.run('well-behaved', [sourceDoc(1)], fixtureServices()))[0]?.ok).toBe(true);
    } finally {
      await own.close();
    }
  }, 40_000);
});

/** The pids of this process's sandbox children (the pool does not hand them out). */
function sandboxChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('pool-process')).map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('a busy machine does not fail documents that did little', () => {
  it('a document kept waiting for a core past its CPU limit, using little CPU itself, is not stopped', async () => {
    // isolated-vm's cpuTime counts the time the isolate's thread waited for a core (a
    // loaded 2-core machine stopped a 0.1 s document at "5,000 ms of CPU"). A SIGSTOP of
    // the sandbox process is that wait, made long and certain: 4 s stopped in the middle
    // of ~0.7 s of work (here; 4x that still passes), against a limit of 3 s of CPU (and 20 s
    // of wall time). The stop comes 30 ms into the work, so a late timer still lands inside it.
    const code = `export default { id: 'waits', source_schemas: ['rd.msg.test'], emits: ['rd.test.out'], reads: ['rd.msg.test'],
      handler(doc, rd) {
        rd.open(['email', 'started'], 'rd.msg.test');
        let x = 0;
        for (let i = 0; i < 2e8; i++) x = (x + i * 7) % 1000003;
        rd.emit('rd.test.out', { n: doc.n, x });
      } };`;
    const before = sandboxChildren();
    const timers: NodeJS.Timeout[] = [];
    const own = await startSandboxPool({ sources: [{ origin: 'waits.js', code }], size: 1, limits: { ...testLimits, cpuMsPerDoc: 3_000, wallMsPerDoc: 20_000 } });
    try {
      const [child, ...others] = sandboxChildren().filter((pid) => !before.includes(pid));
      expect(child, 'the new pool\'s sandbox process').toBeDefined();
      expect(others).toEqual([]);
      const services = fixtureServices();
      const open = services.open.bind(services);
      let stoppedAt = 0;
      services.open = async (requests) => {
        // The document has started: its loop runs once this answer is back.
        timers.push(setTimeout(() => {
          process.kill(child as number, 'SIGSTOP');
          stoppedAt = Date.now();
          timers.push(setTimeout(() => process.kill(child as number, 'SIGCONT'), 4_000));
        }, 30));
        return open(requests);
      };
      const started = Date.now();
      const [result] = await own.run('waits', [sourceDoc(1)], services);
      expect(stoppedAt, 'the sandbox process was stopped while the document ran').toBeGreaterThan(started);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
      expect(result).toMatchObject({ ok: true, emits: [{ fields: { n: 1 } }] });
    } finally {
      // A failure before the continue must not leave the process stopped, nor a timer that
      // signals it after it is gone.
      timers.forEach(clearTimeout);
      for (const pid of sandboxChildren().filter((p) => !before.includes(p))) process.kill(pid, 'SIGCONT');
      await own.close();
    }
  }, 40_000);
});
