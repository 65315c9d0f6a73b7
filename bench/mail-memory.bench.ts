import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { installDatabase } from '../src/cli/install.js';
import { corpusDirSetting, memoryBenchSizesSetting } from '../src/config/index.js';
import { silentLogger } from '../src/core/index.js';
import { type Couch, useDatabase } from '../src/couch/connect.js';
import { destroyDatabase } from '../src/couch/ensure-database.js';
import { importLimits } from '../src/protocols/import/limits.js';
import { type RawMessage, storeRawMessages } from '../src/protocols/store-raw.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import { messageFiles, openCorpus } from '../test/helpers/corpus.js';
import type { Benchmark, Measurement } from './harness.js';
import { stripFromLine } from './mail-cascade.bench.js';
import { catchUpEmptyDatabase, timedQueueRun } from './timed-queue-run.js';

const require = createRequire(import.meta.url);
// mailsplit (nodemailer's splitter) parses and rebuilds the header block.
const { Headers } = require('mailsplit') as { Headers: new (raw: Buffer) => { getFirst(key: string): string; update(key: string, value: string): void; add(key: string, value: string): void; build(): Buffer } };

/**
 * Does memory grow with the mailbox? Issue 15's goal: peak RSS at 50,000 messages at most
 * 1.2 × that at 10,000, for the queue process, the sandbox process and the server apart.
 * Each size (RAINDROP_BENCH_MEMORY_N, default 10000,50000) runs the whole mail cascade
 * on a fresh database, as `mail-cascade` does.
 *
 * The corpus has about 7,200 openwrt-devel messages, so a size past that takes the archive
 * again in rounds: round r ≥ 1 is the same real messages with `r<r>.` put in front of every
 * id in Message-ID, In-Reply-To and References (so each round is new mail with the same
 * threads, not duplicates) and an X-Raindrop-Bench-Round header (so a message without a
 * Message-ID, whose key is a hash of its bytes, is new too). Rounds repeat the same
 * senders, lists and subjects: contacts, lists and groupings grow as in one mailbox
 * over years, conversations and messages as in a bigger one.
 *
 * The embedded server is one process for the whole benchmark (the sizes run one after
 * the other on it, each on its own database, the previous one deleted): its peak at the
 * larger size may carry some of what the smaller one left in its caches.
 */
const corpusName = 'openwrt-devel';

/** Round r of a message: its ids moved into their own namespace (see above). */
export function messageOfRound(bytes: Buffer, round: number): Buffer {
  if (round === 0) return bytes;
  const text = bytes.toString('latin1');
  const sep = /\r?\n\r?\n/.exec(text);
  const headerEnd = sep ? sep.index : text.length;
  const bodyStart = sep ? sep.index + sep[0].length : text.length;
  const headers = new Headers(bytes.subarray(0, headerEnd));
  for (const name of ['Message-ID', 'In-Reply-To', 'References']) {
    const value = headers.getFirst(name);
    if (value) headers.update(name, value.replace(/<([^<>\s]+)>/g, `<r${round}.$1>`));
  }
  headers.add('X-Raindrop-Bench-Round', String(round));
  return Buffer.concat([headers.build(), bytes.subarray(bodyStart)]);
}

async function storeRounds(registry: SchemaRegistry, db: ReturnType<typeof useDatabase>, files: readonly string[], n: number): Promise<{ stored: number; duplicate: number; refused: number }> {
  const out = { stored: 0, duplicate: 0, refused: 0 };
  let batch: RawMessage[] = [];
  let bytes = 0;
  const flush = async () => {
    for (const s of await storeRawMessages(registry, db, batch)) out[s.outcome === 'stored' ? 'stored' : s.outcome === 'duplicate' ? 'duplicate' : 'refused']++;
    batch = [];
    bytes = 0;
  };
  for (let i = 0; i < n; i++) {
    const file = files[i % files.length] as string;
    const message = messageOfRound(stripFromLine(await readFile(file)), Math.floor(i / files.length));
    batch.push({ bytes: message, receivedFrom: 'import:eml' });
    bytes += message.length;
    if (batch.length >= importLimits.batchMessages || bytes >= importLimits.batchBytes) await flush();
  }
  if (batch.length > 0) await flush();
  return out;
}

const mb = (b: number) => b / (1024 * 1024);

export function mailMemoryBenchmark(couch: Couch): Benchmark {
  return {
    name: 'mail-memory',
    async run(ctx) {
      const sizes = memoryBenchSizesSetting();
      const corpus = await openCorpus(corpusDirSetting());
      const results: Measurement[] = [];
      const peaksBySize: Array<{ n: number; queue: number; sandbox: number; server: number }> = [];
      try {
        const files = await messageFiles(await corpus.unpack(corpusName));
        for (const n of sizes) {
          const name = `bench_memory_${n}_${Date.now()}`;
          let registry: SchemaRegistry | undefined;
          try {
            await installDatabase(couch, name, [], silentLogger);
            const db = useDatabase(couch, name);
            registry = await SchemaRegistry.load(db);
            await catchUpEmptyDatabase(db, registry);
            const load = await storeRounds(registry, db, files, n);
            ctx.log(`${n}: ${load.stored} raw stored (${Math.ceil(n / files.length)} rounds of ${files.length} files), ${load.duplicate} duplicates, ${load.refused} refused`);
            const { report, seconds, peaks } = await timedQueueRun(db, registry, ctx.log);
            ctx.log(`${n}: ${report.written} documents in ${seconds.toFixed(0)} s (${(load.stored / seconds).toFixed(1)} msgs/s); peaks: queue ${mb(peaks.rss).toFixed(0)} MB (heap ${mb(peaks.heapUsed).toFixed(0)}), sandbox ${mb(peaks.sandboxHwm).toFixed(0)} MB, server ${mb(peaks.serverRss).toFixed(0)} MB (not file-backed ${mb(peaks.serverAnon).toFixed(0)} MB)`);
            peaksBySize.push({ n, queue: peaks.rss, sandbox: peaks.sandboxHwm, server: peaks.serverRss });
            results.push(
              { name: `mail.memory.${n}.queue-rss.peak`, value: mb(peaks.rss), unit: 'MB', notes: `queue process; heap used peak ${mb(peaks.heapUsed).toFixed(0)} MB; ${load.stored} messages in ${seconds.toFixed(0)} s` },
              { name: `mail.memory.${n}.sandbox-rss.peak`, value: mb(peaks.sandboxHwm), unit: 'MB', notes: 'sandbox child process (VmHWM)' },
            );
            if (peaks.serverRss > 0) results.push({ name: `mail.memory.${n}.server-rss.peak`, value: mb(peaks.serverRss), unit: 'MB', notes: `embedded server process (sampled VmRSS; RssAnon peak ${mb(peaks.serverAnon).toFixed(0)} MB)` });
          } finally {
            await registry?.close();
            await destroyDatabase(couch, name).catch(() => undefined);
          }
        }
        const first = peaksBySize[0];
        const last = peaksBySize.at(-1);
        if (first && last && last.n > first.n) {
          for (const part of ['queue', 'sandbox', 'server'] as const) {
            if (first[part] > 0) results.push({ name: `mail.memory.${part}.growth`, value: last[part] / first[part], unit: '×', notes: `peak RSS at ${last.n} / at ${first.n} messages; goal ≤ 1.2` });
          }
        }
        return results;
      } finally {
        await corpus.remove();
      }
    },
  };
}
