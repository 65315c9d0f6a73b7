import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { compiledEntry } from '../src/core/entry-points.js';
import { startSandboxPool } from '../src/sandbox/pool.js';
import type { HostServices } from '../src/sandbox/types.js';
import type { Benchmark, Measurement } from './harness.js';
import { median } from './harness.js';
import { type VmEmit, loadInVm } from './ldjson-child.js';

/** Issue 3 item 8: 2 KB documents; the queue hands the pool batches of 500 and keeps a
 * few in flight so that every isolate has work while results travel back. */
const docCount = 20_000;
const batchSize = 500;
const batchesInFlight = 4;
/** The first pass over 20,000 documents runs measurably slower (JIT, heap growth). */
const warmupDocs = 10_000;
const rounds = 3;

/** A small, realistic extender: reads a few fields, normalises, counts, emits once. */
const extensionCode = `
export default {
  id: 'bench.summary',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.summary'],
  category: 'extender',
  handler(doc, rd) {
    const subject = String(doc.subject || '').replace(/^(\\s*(re|fwd?|aw)\\s*:)+/i, '').replace(/\\s+/g, ' ').trim().toLowerCase();
    const words = doc.body.split(/\\s+/).filter((w) => w.length > 0).length;
    const from = doc.from && typeof doc.from.address === 'string' ? doc.from.address.toLowerCase() : null;
    rd.emit('rd.msg.summary', { subject, from, words, preview: doc.body.slice(0, 64) });
  },
};`;

/** Reads preloaded documents: the extensions of the mail cascade open ~15 a message. */
const openerCode = `
export default {
  id: 'bench.opener',
  source_schemas: ['rd.msg.test'],
  emits: ['rd.msg.summary'],
  reads: ['rd.msg.other'],
  handler(doc, rd) {
    let found = 0;
    for (let i = 0; i < doc.opens; i++) if (rd.open(doc.rd_key, 'rd.msg.other')) found++;
    rd.emit('rd.msg.summary', { found });
  },
};`;
const knownOpenDocs = 2_000;
const knownOpensPerDoc = 10;

/** Microseconds per known open: the same documents run with and without opens, alternately. */
async function knownOpenCost(size: number): Promise<number> {
  const pool = await startSandboxPool({ sources: [{ origin: 'bench-opener.js', code: openerCode }], size });
  try {
    const docsWith = (opens: number) => Array.from({ length: knownOpenDocs }, (_, i) => ({ _id: `rc!email.o${i}!rd.msg.test`, rd_key: ['email', `o${i}`], rd_schema_id: 'rd.msg.test', opens }));
    const preload = docsWith(0).map((d) => ({ key: d.rd_key as [string, string], schemaId: 'rd.msg.other' }));
    const services: HostServices = { ...noServices, open: (requests) => Promise.resolve(requests.map(() => ({ value: 1 }))) };
    const time = async (opens: number) => {
      const start = performance.now();
      const results = await pool.run('bench.opener', docsWith(opens), services, preload);
      const wrong = results.find((r) => !r.ok || r.emits[0]?.fields.found !== opens);
      if (wrong) throw new Error(`opener: unexpected result ${JSON.stringify(wrong)}`);
      return performance.now() - start;
    };
    await time(knownOpensPerDoc); // warm-up
    const costs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const none = await time(0);
      const some = await time(knownOpensPerDoc);
      costs.push(((some - none) * 1000) / (knownOpenDocs * knownOpensPerDoc));
    }
    return median(costs);
  } finally {
    await pool.close();
  }
}

/** Deterministic filler text (the sandbox forbids randomness; so should the input). */
function makeDocs(count: number): Array<Record<string, unknown>> {
  const vocabulary = ['meeting', 'tomorrow', 'the', 'report', 'attached', 'please', 'review', 'and', 'thanks', 'regards', 'budget', 'Q3', 'draft', 'of', 'schedule'];
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: count }, (_, i) => {
    const words: string[] = [];
    for (let len = 0; len < 1_800; len += (words.at(-1)?.length ?? 0) + 1) words.push(vocabulary[next() % vocabulary.length] as string);
    return {
      _id: `rc!email.bench${i}!rd.msg.email`,
      rd_key: ['email', `bench${i}`],
      rd_schema_id: 'rd.msg.email',
      subject: `Re: RE:  Weekly   ${vocabulary[i % vocabulary.length]} #${i}`,
      from: { name: `Sender ${i % 97}`, address: `Sender${i % 97}@Example.ORG` },
      to: [{ name: 'Me', address: 'me@example.org' }],
      date: '2026-11-23T10:00:00Z',
      body: words.join(' '),
    };
  });
}

/** The extension reads nothing, so no host service is ever called. */
const noServices: HostServices = {
  open: () => Promise.reject(new Error('not in this benchmark')),
  attachment: () => Promise.reject(new Error('not in this benchmark')),
  query: () => Promise.reject(new Error('not in this benchmark')),
  myIdentities: () => Promise.resolve([]),
};

type Docs = ReadonlyArray<Record<string, unknown>>;
/** Receives each document's emits as they come; keeps only a sample, so that retained
 * outputs do not tax (through GC) whichever method allocates the most. */
type Sink = (index: number, emits: ReadonlyArray<VmEmit>) => void;
type Method = (docs: Docs, sink: Sink) => Promise<void>;

/** Batches of `batchSize`, at most `batchesInFlight` of them awaiting an answer. */
async function inBatches(docs: Docs, sink: Sink, runBatch: (batch: Docs) => Promise<ReadonlyArray<ReadonlyArray<VmEmit>>>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < docs.length) {
      const start = next;
      next += batchSize;
      (await runBatch(docs.slice(start, start + batchSize))).forEach((emits, k) => sink(start + k, emits));
    }
  };
  await Promise.all(Array.from({ length: batchesInFlight }, lane));
}

/** A CouchDB-style query server: one document per line, wait for its line, then the next. */
async function startLdjsonChild(code: string) {
  const proc = spawn(process.execPath, [compiledEntry('bench/ldjson-child.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiters: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  createInterface({ input: proc.stdout, crlfDelay: Infinity }).on('line', (line) => waiters.shift()?.resolve(line));
  proc.once('exit', (code) => waiters.splice(0).forEach((w) => w.reject(new Error(`the query server exited (${code})`))));
  const ask = (line: string) =>
    new Promise<{ ok: boolean; emits?: VmEmit[]; message?: string }>((resolve, reject) => {
      waiters.push({ resolve: (answer) => resolve(JSON.parse(answer) as { ok: boolean; emits?: VmEmit[] }), reject });
      proc.stdin.write(`${line}\n`);
    });
  const loaded = await ask(JSON.stringify(code));
  if (!loaded.ok) throw new Error(`the query server refused the extension: ${loaded.message}`);
  return {
    async run(docs: Docs, sink: Sink): Promise<void> {
      for (let i = 0; i < docs.length; i++) {
        const answer = await ask(JSON.stringify(docs[i]));
        if (!answer.ok || !answer.emits) throw new Error(`query server: ${answer.message}`);
        sink(i, answer.emits);
      }
    },
    close: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.stdin.end();
    }),
  };
}

/** Checks that every document produced one summary and keeps every 997th, to compare
 * across methods: a method that silently did nothing would look infinitely fast. */
function sampler(name: string) {
  const samples = new Map<number, string>();
  let seen = 0;
  const sink: Sink = (i, emits) => {
    if (emits.length !== 1) throw new Error(`${name}: document ${i} emitted ${emits.length} items, not 1`);
    seen++;
    if (i % 997 === 0) samples.set(i, JSON.stringify(emits.map(({ id, key, schemaId, fields }) => ({ id, key, schemaId, fields }))));
  };
  return { name, sink, samples, seen: () => seen };
}

function verify(count: number, runs: ReadonlyArray<ReturnType<typeof sampler>>): void {
  const reference = runs[0] as ReturnType<typeof sampler>;
  for (const run of runs) {
    if (run.seen() !== count) throw new Error(`${run.name}: ${run.seen()} results for ${count} documents`);
    for (let i = 0; i < count; i += 997) {
      if (run.samples.get(i) !== reference.samples.get(i)) throw new Error(`${run.name} differs on document ${i}: ${run.samples.get(i)} vs ${reference.samples.get(i)}`);
    }
  }
  const [first] = JSON.parse(reference.samples.get(0) ?? '[]') as Array<{ fields: { words: number; subject: string } }>;
  if (!first || !(first.fields.words > 250) || first.fields.subject !== 'weekly meeting #0') throw new Error(`unexpected output ${JSON.stringify(first)}`);
}

/**
 * The per-document cost of one small extension run three ways in one process: the
 * isolated-vm pool (the design), node:vm in-process (the floor: no boundary at all), and
 * a line-delimited JSON child process (CouchDB's query-server model).
 */
export function sandboxBenchmark(): Benchmark {
  return {
    name: 'sandbox',
    async run(ctx) {
      const docs = makeDocs(docCount);
      const bytes = Math.round(docs.reduce((n, d) => n + JSON.stringify(d).length, 0) / docs.length);
      const size = availableParallelism();
      const vmHandler = loadInVm(extensionCode);
      const pool = await startSandboxPool({ sources: [{ origin: 'bench-summary.js', code: extensionCode }], size });
      let child: Awaited<ReturnType<typeof startLdjsonChild>> | undefined;
      try {
        child = await startLdjsonChild(extensionCode);
        const methods: Record<'pool' | 'vm' | 'child', Method> = {
          pool: (all, sink) => inBatches(all, sink, async (batch) =>
            (await pool.run('bench.summary', batch, noServices)).map((r) => {
              if (!r.ok) throw new Error(`pool: ${r.kind}: ${r.message}`);
              return r.emits as VmEmit[];
            })),
          // The pool copies each document across a boundary; so does this, as text, to be fair.
          vm: async (all, sink) => all.forEach((doc, i) => sink(i, vmHandler(JSON.parse(JSON.stringify(doc)) as Record<string, unknown>))),
          child: (all, sink) => (child as NonNullable<typeof child>).run(all, sink),
        };
        const rates: Record<keyof typeof methods, number[]> = { pool: [], vm: [], child: [] };
        for (const method of Object.values(methods)) await method(docs.slice(0, warmupDocs), () => {});
        for (let round = 0; round < rounds; round++) {
          // A fresh query server per round: on this VM a ping-pong pair of processes runs at
          // one of two speeds (about 2x apart) depending on where the scheduler puts them,
          // and keeps it for its lifetime: three draws rather than one for the median.
          await child.close();
          child = await startLdjsonChild(extensionCode);
          await child.run(docs.slice(0, 1_000), () => {}); // its own warm-up (JIT), untimed
          const runs: Array<ReturnType<typeof sampler>> = [];
          for (const [name, method] of Object.entries(methods) as Array<[keyof typeof methods, Method]>) {
            const run = sampler(name);
            const start = performance.now();
            await method(docs, run.sink);
            rates[name].push(docs.length / ((performance.now() - start) / 1000));
            runs.push(run);
          }
          verify(docs.length, runs);
          ctx.log(`round ${round + 1}/${rounds}: pool ${Math.round(rates.pool.at(-1) ?? 0)}, node:vm ${Math.round(rates.vm.at(-1) ?? 0)}, ldjson child ${Math.round(rates.child.at(-1) ?? 0)} docs/s`);
        }
        const [pool_, vm_, child_] = [median(rates.pool), median(rates.vm), median(rates.child)];
        const notes = `${docCount} docs of ~${bytes} B, median of ${rounds}`;
        const results: Measurement[] = [
          { name: 'sandbox.pool', value: pool_, unit: 'docs/s', notes: `isolated-vm, ${size} isolates, batches of ${batchSize}, ${batchesInFlight} in flight; ${notes}` },
          { name: 'sandbox.node-vm', value: vm_, unit: 'docs/s', notes: `in-process node:vm, no boundary; ${notes}` },
          { name: 'sandbox.ldjson-child', value: child_, unit: 'docs/s', notes: `query-server protocol, one doc per round trip; ${notes} (${rates.child.map(Math.round).join(' / ')})` },
          { name: 'sandbox.pool.cost-vs-vm', value: vm_ / pool_, unit: 'ratio', ratioOf: 'sandbox.node-vm', notes: 'per-doc cost of the pool over node:vm; target <= 3' },
          { name: 'sandbox.pool.speedup-vs-child', value: pool_ / child_, unit: 'ratio', ratioOf: 'sandbox.ldjson-child', notes: 'pool throughput over the query server; target >= 5' },
          // The conservative reading: against the query server's fastest round.
          { name: 'sandbox.pool.speedup-vs-child-best', value: pool_ / Math.max(...rates.child), unit: 'ratio', ratioOf: 'sandbox.ldjson-child', notes: 'against its fastest round' },
          // What a perfect pool would reach (node:vm's cost, split over every core with no
          // overhead at all): the speedup target is only meaningful below this ceiling.
          { name: 'sandbox.pool.speedup-vs-child.ceiling', value: (size * vm_) / child_, unit: 'ratio', ratioOf: 'sandbox.ldjson-child', notes: `${size} cores x node:vm, zero overhead` },
        ];
        const knownOpen = await knownOpenCost(size);
        ctx.log(`a known rd.open: ${knownOpen.toFixed(1)} µs of a pool of ${size} (median of ${rounds})`);
        results.push({ name: 'sandbox.pool.known-open', value: knownOpen, unit: 'µs', notes: `time a pool of ${size} isolates takes per rd.open answered from the preloaded documents sent with the job: (${knownOpenDocs} documents x ${knownOpensPerDoc} opens - the same documents with none) / opens` });
        return results;
      } finally {
        await Promise.all([pool.close(), child?.close()]);
      }
    },
  };
}
