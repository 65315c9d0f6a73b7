import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { benchCorporaSetting, corpusDirSetting } from '../src/config/index.js';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { docIdFor, type RdKey } from '../src/core/index.js';
import { projectRoot } from '../src/core/entry-points.js';
import { useDatabase } from '../src/couch/connect.js';
import { openServer } from '../src/couch/open-server.js';
import { findMessages } from '../src/protocols/import/sources.js';
import { messageKey } from '../src/protocols/message-key.js';
import { rawSchemaId } from '../src/protocols/store-raw.js';
import { isBookkeeping } from '../src/queue/provenance.js';
import { messageFiles, openCorpus, spamAssassinDir } from '../test/helpers/corpus.js';
import { runCli } from '../test/helpers/run-cli.js';
import type { Benchmark, Measurement } from './harness.js';
import { stripFromLine } from './mail-cascade.bench.js';

/**
 * Every corpus through the real CLI, one fresh embedded database each:
 * `raindrop import FILES --json`, `raindrop process --json`, `raindrop status --json`,
 * `raindrop errors --json`, in a temporary data dir (HOME and config too, so nothing of
 * the user's leaks in). Then the rule is checked message by message: every message
 * yields rd.msg.email and rd.msg.body, or an rd.core.error saying why not.
 *
 * Run with `npm run bench -- corpus-counts` (never part of a plain `npm run bench`: it
 * takes many minutes). RAINDROP_BENCH_CORPORA=cake,nasty picks corpora. The full
 * report (file names, error texts) goes to bench/results/corpus-counts-<time>.json,
 * which is git-ignored: the list archives hold real addresses that must not be published.
 */
const corpusNames = ['spamassassin', 'cake', 'openwrt-devel', 'nasty'] as const;
type CorpusName = (typeof corpusNames)[number];

/** Documents that are installation or bookkeeping, not derived from mail. */
const notDerived = new Set(['design', 'bookkeeping', rawSchemaId, 'rd.core.schema', 'rd.ext.workqueue', 'rd.core.workqueue-state']);

interface ImportSummary {
  imported: number;
  duplicate: number;
  refused: Array<{ origin: string; reason: string }>;
  bytes: number;
}

interface ProcessReport {
  batches: number;
  ran: number;
  skipped: number;
  failed: number;
  written: number;
  seconds: number;
}

interface StatusReport {
  schemas: Record<string, number>;
  extensions: Array<{ id: string; state: string; lag: number; lagAtLeast: boolean; errors: number }>;
}

interface ErrorRecord {
  id: string;
  extension: string;
  kind: string;
  message: string;
  source_id: string;
}

export interface CorpusCounts {
  corpus: string;
  files: number;
  /** Messages the import walk finds (an mbox file may hold several). */
  found: number;
  imported: number;
  duplicate: number;
  refused: Array<{ origin: string; reason: string }>;
  /** Distinct raw items the found messages map to, and how many of them are stored. */
  distinctKeys: number;
  rawStored: number;
  email: number;
  body: number;
  errorDocs: number;
  /** extension → kind → records and distinct messages (error documents are keyed like
   * the message, so one per message however many extensions failed on it). */
  errors: Record<string, Record<string, { records: number; messages: number }>>;
  /** kind → distinct message texts with how often each appears (first line, 300 chars). */
  errorTexts: Record<string, Array<{ text: string; count: number; extensions: string[] }>>;
  derived: Record<string, number>;
  /** Distinct messages with both outputs, with an error and no (complete) output, and
   * with neither (the rule broken; listed by file). */
  complete: number;
  explained: number;
  unexplained: Array<{ origin: string; missing: string[] }>;
  /** Messages with outputs and also an error from some extension downstream. */
  completeWithError: number;
  processExit: number | null;
  /** Set when `raindrop process` ended without its report (the queue crashed). */
  processCrash: string | null;
  sandboxDeaths: number;
  sandboxGaveUp: boolean;
  isolateRestarts: number;
  lagAfter: number;
  /** The lag of some extension was only counted up to status's limit. */
  lagAtLeast: boolean;
  importSeconds: number;
  processSeconds: number;
  wallSeconds: number;
  run: ProcessReport;
}

async function corpusFiles(name: CorpusName, unpack: (n: 'cake' | 'openwrt-devel' | 'nasty') => Promise<string>): Promise<{ root: string; files: string[] }> {
  // data/<group>/*.txt only: the package's .json twins and index files are not mail.
  if (name === 'spamassassin') return { root: spamAssassinDir, files: await messageFiles(spamAssassinDir) };
  const root = await unpack(name);
  return { root, files: await messageFiles(root) };
}

function parseJson<T>(what: string, result: { code: number | null; stdout: string; stderr: string }): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`raindrop ${what} printed no JSON (exit ${result.code}): ${result.stderr.slice(-2000)}`);
  }
}

/** The key part of a document id (`rc!<type>.<value>!<schema>` → `rc!<type>.<value>`). */
const keyOfId = (id: string) => id.slice(0, id.lastIndexOf('!'));

async function countCorpus(name: CorpusName, root: string, files: readonly string[], log: (line: string) => void): Promise<CorpusCounts> {
  const home = await mkdtemp(join(tmpdir(), `raindrop-counts-${name}-`));
  const dataDir = join(home, 'data');
  const env = { HOME: home, RAINDROP_CONFIG: join(home, 'none.json'), RAINDROP_DATA_DIR: dataDir, RAINDROP_LOG_LEVEL: 'warn' };
  try {
    const started = performance.now();
    const imported = await runCli(['import', ...files, '--json'], env);
    const summary = parseJson<ImportSummary>('import', imported);
    const importSeconds = (performance.now() - started) / 1000;
    log(`${name}: imported ${summary.imported}, duplicate ${summary.duplicate}, refused ${summary.refused.length} in ${importSeconds.toFixed(1)} s`);
    const processStart = performance.now();
    const processed = await runCli(['process', '--json'], env);
    const processSeconds = (performance.now() - processStart) / 1000;
    // Exit 1 with a report is "some runs failed" (they are error records); no report
    // means the queue itself stopped: that is recorded, and the counts show how far it got.
    let run: ProcessReport = { batches: 0, ran: 0, skipped: 0, failed: 0, written: 0, seconds: processSeconds };
    let processCrash: string | null = null;
    try {
      const parsed = JSON.parse(processed.stdout) as Partial<ProcessReport>;
      if (typeof parsed.ran !== 'number') throw new Error('not a run report');
      run = parsed as ProcessReport;
    } catch {
      processCrash = `exit ${processed.code}: ${processed.stdout.slice(-1000)} ${processed.stderr.slice(-2000)}`;
      log(`${name}: the queue stopped without a report: ${processCrash}`);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    log(`${name}: process exit ${processed.code}: ${run.ran} runs, ${run.failed} failed, ${run.written} written in ${processSeconds.toFixed(1)} s`);
    const status = parseJson<StatusReport>('status', await runCli(['status', '--json'], env));
    const { errors } = parseJson<{ errors: ErrorRecord[] }>('errors', await runCli(['errors', '--json'], env));

    // Message by message, with the server of the data dir (the CLI has stopped it).
    const server = await openServer({ couchUrl: undefined, dataDir, owner: 'command' });
    const ids = new Set<string>();
    try {
      const db = useDatabase(server.couch, 'raindrop');
      const page = (await db.scope.list()) as unknown as { rows: Array<{ id: string }> };
      for (const row of page.rows) ids.add(row.id);
    } finally {
      await server.release();
    }
    const derived: Record<string, number> = {};
    for (const id of ids) {
      const kind = id.startsWith('_design/') ? 'design' : isBookkeeping(id) ? 'bookkeeping' : id.slice(id.lastIndexOf('!') + 1);
      if (!notDerived.has(kind)) derived[kind] = (derived[kind] ?? 0) + 1;
    }
    const refusedOrigins = new Set(summary.refused.map((r) => r.origin));
    const errorKeys = new Set(errors.map((e) => keyOfId(e.id)));
    const byKey = new Map<string, string[]>();
    let found = 0;
    for await (const m of findMessages(files)) {
      if ('skipped' in m) continue;
      found++;
      if ('refused' in m || refusedOrigins.has(m.origin)) continue;
      const key = messageKey(stripFromLine(m.bytes));
      if (!key.ok) continue;
      const id = keyOfId(docIdFor(key.key as RdKey, rawSchemaId));
      byKey.set(id, [...(byKey.get(id) ?? []), relative(root, m.origin)]);
    }
    let complete = 0;
    let explained = 0;
    let completeWithError = 0;
    let rawStored = 0;
    const unexplained: CorpusCounts['unexplained'] = [];
    for (const [key, origins] of byKey) {
      if (ids.has(`${key}!${rawSchemaId}`)) rawStored++;
      const missing = ['rd.msg.email', 'rd.msg.body'].filter((s) => !ids.has(`${key}!${s}`));
      const hasError = errorKeys.has(key);
      if (missing.length === 0) {
        complete++;
        if (hasError) completeWithError++;
      } else if (hasError) explained++;
      else unexplained.push({ origin: origins.join(', '), missing });
    }
    const errorsBy: CorpusCounts['errors'] = {};
    const distinct = new Map<string, Set<string>>();
    const texts = new Map<string, Map<string, { count: number; extensions: Set<string> }>>();
    for (const e of errors) {
      const slot = ((errorsBy[e.extension] ??= {})[e.kind] ??= { records: 0, messages: 0 });
      slot.records++;
      const seen = distinct.get(`${e.extension}|${e.kind}`) ?? new Set<string>();
      seen.add(keyOfId(e.id));
      distinct.set(`${e.extension}|${e.kind}`, seen);
      slot.messages = seen.size;
      const text = (e.message.split('\n')[0] ?? '').slice(0, 300);
      const byText = texts.get(e.kind) ?? new Map<string, { count: number; extensions: Set<string> }>();
      const t = byText.get(text) ?? { count: 0, extensions: new Set<string>() };
      t.count++;
      t.extensions.add(e.extension);
      byText.set(text, t);
      texts.set(e.kind, byText);
    }
    const errorTexts: CorpusCounts['errorTexts'] = {};
    for (const [kind, byText] of texts) {
      errorTexts[kind] = [...byText.entries()].sort(([, a], [, b]) => b.count - a.count).map(([text, t]) => ({ text, count: t.count, extensions: [...t.extensions].sort() }));
    }
    const stderr = processed.stderr;
    return {
      corpus: name,
      files: files.length,
      found,
      imported: summary.imported,
      duplicate: summary.duplicate,
      refused: summary.refused.map((r) => ({ origin: relative(root, r.origin), reason: r.reason })),
      distinctKeys: byKey.size,
      rawStored,
      email: status.schemas['rd.msg.email'] ?? 0,
      body: status.schemas['rd.msg.body'] ?? 0,
      errorDocs: status.schemas['rd.core.error'] ?? 0,
      errors: errorsBy,
      errorTexts,
      derived,
      complete,
      explained,
      unexplained,
      completeWithError,
      processExit: processed.code,
      processCrash,
      // How the pool reports a restart of its child process (src/sandbox/pool.ts).
      sandboxDeaths: stderr.match(/the sandbox process died/g)?.length ?? 0,
      sandboxGaveUp: /giving up|did not come back/.test(stderr),
      // An isolate is replaced after a timeout, memory or crash failure: these kinds.
      isolateRestarts: errors.filter((e) => ['timeout', 'memory', 'crash'].includes(e.kind)).length,
      lagAfter: status.extensions.reduce((sum, e) => sum + e.lag, 0),
      lagAtLeast: status.extensions.some((e) => e.lagAtLeast),
      importSeconds,
      processSeconds,
      wallSeconds,
      run,
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

function table(rows: readonly CorpusCounts[]): string {
  const schemas = [...new Set(rows.flatMap((r) => Object.keys(r.derived)))].filter((s) => s !== 'rd.msg.email' && s !== 'rd.msg.body' && s !== 'rd.core.error').sort();
  const lines: Array<[string, ...string[]]> = [
    ['', ...rows.map((r) => r.corpus)],
    ['files', ...rows.map((r) => String(r.files))],
    ['messages found', ...rows.map((r) => String(r.found))],
    ['raw stored (import)', ...rows.map((r) => String(r.imported))],
    ['distinct keys / raw items present', ...rows.map((r) => `${r.distinctKeys} / ${r.rawStored}`)],
    ['duplicates (Message-ID)', ...rows.map((r) => String(r.duplicate))],
    ['refused', ...rows.map((r) => String(r.refused.length))],
    ['rd.msg.email', ...rows.map((r) => String(r.email))],
    ['rd.msg.body', ...rows.map((r) => String(r.body))],
    ['rd.core.error docs', ...rows.map((r) => String(r.errorDocs))],
    ...[...new Set(rows.flatMap((r) => Object.entries(r.errors).flatMap(([ext, kinds]) => Object.keys(kinds).map((k) => `${ext} ${k}`))))].sort().map(
      (label): [string, ...string[]] => {
        const [ext, kind] = label.split(' ') as [string, string];
        return [`  error ${label}`, ...rows.map((r) => {
          const e = r.errors[ext]?.[kind];
          return e ? `${e.records} (${e.messages} msgs)` : '0';
        })];
      },
    ),
    ...schemas.map((s): [string, ...string[]] => [s, ...rows.map((r) => String(r.derived[s] ?? 0))]),
    ['email+body', ...rows.map((r) => String(r.complete))],
    ['  of which also an error', ...rows.map((r) => String(r.completeWithError))],
    ['no email/body, error', ...rows.map((r) => String(r.explained))],
    ['neither (rule broken)', ...rows.map((r) => String(r.unexplained.length))],
    ['process exit code', ...rows.map((r) => `${r.processExit}${r.processCrash === null ? '' : ' (crashed)'}`)],
    ['sandbox process restarts', ...rows.map((r) => `${r.sandboxDeaths}${r.sandboxGaveUp ? ' (gave up)' : ''}`)],
    ['isolate restarts (timeout/memory/crash)', ...rows.map((r) => String(r.isolateRestarts))],
    ['lag after process (own checkpoint writes)', ...rows.map((r) => `${r.lagAfter}${r.lagAtLeast ? '+' : ''}`)],
    ['wall s (import + process)', ...rows.map((r) => `${r.wallSeconds.toFixed(0)} (${r.importSeconds.toFixed(0)} + ${r.processSeconds.toFixed(0)})`)],
  ];
  const widths = (lines[0] ?? ['']).map((_, i) => Math.max(...lines.map((l) => l[i]?.length ?? 0)));
  return lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

export function corpusCountsBenchmark(): Benchmark {
  return {
    name: 'corpus-counts',
    async run(ctx) {
      const picked = benchCorporaSetting() ?? [...corpusNames];
      const unknown = picked.filter((n) => !(corpusNames as readonly string[]).includes(n));
      if (unknown.length > 0) throw new Error(`RAINDROP_BENCH_CORPORA: unknown ${unknown.join(', ')}; known: ${corpusNames.join(', ')}`);
      const corpus = await openCorpus(corpusDirSetting());
      const rows: CorpusCounts[] = [];
      try {
        for (const name of picked as CorpusName[]) {
          const { root, files } = await corpusFiles(name, corpus.unpack);
          ctx.log(`${name}: ${files.length} files`);
          rows.push(await countCorpus(name, root, files, ctx.log));
        }
      } finally {
        await corpus.remove();
      }
      ctx.log(`\n${table(rows)}\n`);
      for (const r of rows) {
        for (const u of r.unexplained) ctx.log(`${r.corpus}: neither output nor error: ${u.origin} (missing ${u.missing.join(', ')})`);
        for (const refused of r.refused) ctx.log(`${r.corpus}: refused ${refused.origin}: ${refused.reason}`);
        for (const [kind, list] of Object.entries(r.errorTexts)) {
          ctx.log(`${r.corpus}: ${kind} errors:`);
          for (const t of list.slice(0, 15)) ctx.log(`  ${t.count} × [${t.extensions.join(', ')}] ${t.text}`);
          if (list.length > 15) ctx.log(`  ... ${list.length - 15} more texts (see the JSON report)`);
        }
      }
      const dir = join(projectRoot, 'bench', 'results');
      await mkdir(dir, { recursive: true });
      const file = join(dir, `corpus-counts-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, corpora: rows }, null, 2)}\n`);
      ctx.log(`full report: ${file}`);
      return rows.flatMap((r): Measurement[] => [
        { name: `corpus.${r.corpus}.messages`, value: r.found, unit: 'msgs', notes: `${r.imported} stored, ${r.duplicate} duplicate, ${r.refused.length} refused` },
        { name: `corpus.${r.corpus}.email`, value: r.email, unit: 'docs', notes: `rd.msg.body ${r.body}; rd.core.error ${r.errorDocs}` },
        { name: `corpus.${r.corpus}.unexplained`, value: r.unexplained.length, unit: 'msgs', notes: 'neither rd.msg.email + rd.msg.body nor rd.core.error (target 0)' },
        { name: `corpus.${r.corpus}.wall`, value: r.wallSeconds, unit: 's', notes: `import ${r.importSeconds.toFixed(0)} s + process ${r.processSeconds.toFixed(0)} s; sandbox restarts ${r.sandboxDeaths}` },
      ]);
    },
  };
}
