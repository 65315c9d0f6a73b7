import { spawnSync } from 'node:child_process';
import { corpusDirSetting, processEnv } from '../src/config/index.js';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageFiles, openCorpus } from '../test/helpers/corpus.js';
import type { Benchmark, Measurement } from './harness.js';
import { cascadeCorpusName, cascadeLimit, stripFromLine } from './mail-cascade.bench.js';

/**
 * Raindrop beside the local mail indexers, on the same messages in the same run: `mu
 * index` (maildir-utils) and `notmuch new` over a Maildir written from the corpus the
 * mail-cascade benchmark imports (same files, same RAINDROP_BENCH_MAIL_N), timed from
 * an empty index. Prints the table of issue 15 (system, what it does, messages/s) with
 * Raindrop's row from the mail-cascade measurements of this run, its documents per
 * message (data and bookkeeping apart) and its ratio to the `_bulk_docs` ceiling.
 *
 * The indexers are Debian packages; when one is missing, the set-up installs it with
 * apt-get if this process is root, and otherwise says so and leaves its row out.
 */
const packages = { mu: 'maildir-utils', notmuch: 'notmuch' } as const;

function available(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Installs what is missing when it can; returns a note for each tool still missing. */
function ensureTools(log: (line: string) => void): Record<keyof typeof packages, boolean> {
  const missing = (Object.keys(packages) as Array<keyof typeof packages>).filter((c) => !available(c));
  if (missing.length > 0) {
    const names = missing.map((c) => packages[c]);
    if (process.getuid?.() === 0) {
      log(`peers: installing ${names.join(', ')} with apt-get`);
      spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...names], { stdio: 'ignore', env: { ...processEnv(), DEBIAN_FRONTEND: 'noninteractive' } });
    } else {
      log(`peers: ${names.join(', ')} missing and this is not root: run "sudo apt-get install ${names.join(' ')}" for their rows`);
    }
  }
  return { mu: available('mu'), notmuch: available('notmuch') };
}

/** Runs a command, throwing with its output when it fails; returns seconds taken. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = { ...processEnv() }): number {
  const t0 = performance.now();
  const result = spawnSync(command, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - t0) / 1000;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  return seconds;
}

async function writeMaildir(dir: string, files: readonly string[]): Promise<void> {
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(dir, sub), { recursive: true });
  let i = 0;
  for (const file of files) {
    await writeFile(join(dir, 'cur', `${String(++i).padStart(6, '0')}.bench:2,S`), stripFromLine(await readFile(file)));
  }
}

export function peersBenchmark(): Benchmark {
  return {
    name: 'peers',
    async run(ctx) {
      const tools = ensureTools(ctx.log);
      const corpus = await openCorpus(corpusDirSetting());
      const work = await mkdtemp(join(tmpdir(), 'raindrop-peers-'));
      try {
        const all = await messageFiles(await corpus.unpack(cascadeCorpusName));
        const limit = cascadeLimit();
        const files = limit === undefined ? all : all.slice(0, limit);
        const label = limit === undefined ? 'all' : String(files.length);
        const maildir = join(work, 'Maildir');
        await writeMaildir(maildir, files);
        const results: Measurement[] = [];
        const rows: Array<[string, string, number | undefined]> = [];
        if (tools.mu) {
          const muhome = join(work, 'mu');
          timed('mu', ['init', `--muhome=${muhome}`, `--maildir=${maildir}`]);
          const seconds = timed('mu', ['index', `--muhome=${muhome}`]);
          const rate = files.length / seconds;
          results.push({ name: `peers.${label}.mu-index`, value: rate, unit: 'msgs/s', notes: `mu index over ${files.length} files in ${seconds.toFixed(1)} s (parse, Xapian full-text index, contacts)` });
          rows.push(['mu (`mu index`)', 'parse, Xapian full-text index, contacts', rate]);
        }
        if (tools.notmuch) {
          const config = join(work, 'notmuch-config');
          await writeFile(config, `[database]\npath=${maildir}\n[user]\nname=Bench\nprimary_email=bench@example.org\n[new]\ntags=unread;inbox;\n[maildir]\nsynchronize_flags=false\n`);
          const seconds = timed('notmuch', ['new', '--quiet'], { ...processEnv(), NOTMUCH_CONFIG: config });
          const rate = files.length / seconds;
          results.push({ name: `peers.${label}.notmuch-new`, value: rate, unit: 'msgs/s', notes: `notmuch new over ${files.length} files in ${seconds.toFixed(1)} s (parse, Xapian full-text index, threads)` });
          rows.push(['notmuch (`notmuch new`)', 'parse, Xapian full-text index, threads', rate]);
        }
        const cascade = (what: string) => ctx.results.get(`mail.cascade.${label}.${what}`)?.value;
        const raindrop = cascade('messages');
        rows.push(['Raindrop (`process`, this run)', 'parse, bodies, quoted text, links, attachments, threads, conversations, identities, contacts, lists, groupings', raindrop]);
        const mu = rows[0]?.[0].startsWith('mu') ? rows[0][2] : undefined;
        if (raindrop !== undefined && mu !== undefined) results.push({ name: `peers.${label}.raindrop-vs-mu`, value: raindrop / mu, unit: '×', notes: 'Raindrop messages/s / mu index messages/s (goal: 0.5 on CouchDB 3.5)' });
        const fmt = (v: number | undefined) => (v === undefined ? 'not measured' : v >= 100 ? String(Math.round(v)) : v.toFixed(1));
        ctx.log(['', '| system | what it does | messages/s |', '|---|---|---|', ...rows.map(([s, w, v]) => `| ${s} | ${w} | ${fmt(v)} |`), ''].join('\n'));
        if (raindrop === undefined) ctx.log('peers: no mail-cascade measurement in this run for Raindrop\'s row');
        else {
          ctx.log(`Raindrop: ${fmt(cascade('data-docs-per-message'))} data documents and ${fmt(cascade('bookkeeping-per-message'))} bookkeeping documents per message; ${cascade('vs-write-ceiling')?.toFixed(4) ?? 'no'} × the _bulk_docs ceiling`);
        }
        return results;
      } finally {
        await rm(work, { recursive: true, force: true });
        await corpus.remove();
      }
    },
  };
}
