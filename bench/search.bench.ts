/**
 * Search: index rate and query latency of Raindrop's index against notmuch on the same
 * messages, in the same run. The messages (openwrt-devel, cake, SpamAssassin, then the nasty
 * set, up to RAINDROP_BENCH_SEARCH_MESSAGES, default 15,000) are imported and derived by the queue
 * first (not timed here: mail-cascade measures the queue); then:
 * - index rate: a fresh index built from the database (changes feed + documents by id +
 *   SQLite) in messages/s, beside `notmuch new` on a Maildir of the same raw files;
 * - query latency: 50 fixed queries, each run once after a warm-up pass; median and p95,
 *   beside `notmuch search` of the equivalent query (which includes starting a process:
 *   what a notmuch user waits for, and a few ms of its number);
 * - size on disk of each index.
 */
import { corpusDirSetting, processEnv, searchBenchMessagesSetting } from '../src/config/index.js';
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installDatabase } from '../src/cli/install.js';
import { silentLogger } from '../src/core/index.js';
import { type Couch, useDatabase } from '../src/couch/connect.js';
import { destroyDatabase } from '../src/couch/ensure-database.js';
import { storeRawMessages } from '../src/protocols/store-raw.js';
import { QueueRunner } from '../src/queue/queue-runner.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import { SearchIndex } from '../src/search/index-store.js';
import { catchUp } from '../src/search/indexer.js';
import { runSearch } from '../src/search/run-query.js';
import { openCorpus } from '../test/helpers/corpus.js';
import { realMessageFiles } from './real-message-files.js';
import type { Benchmark, Measurement } from './harness.js';
import { median } from './harness.js';

const run = promisify(execFile);

/** [Raindrop query, the notmuch query meaning the same (or the nearest)]. */
const queries: Array<[string, string]> = [
  ['patch', 'patch'], ['kernel', 'kernel'], ['openwrt', 'openwrt'], ['bufferbloat', 'bufferbloat'], ['latency', 'latency'],
  ['throughput', 'throughput'], ['firmware', 'firmware'], ['router', 'router'], ['money', 'money'], ['linux', 'linux'],
  ['"signed-off-by"', '"signed-off-by"'], ['"fq_codel"', '"fq_codel"'], ['"kernel panic"', '"kernel panic"'], ['"pull request"', '"pull request"'], ['"mailing list"', '"mailing list"'],
  ['ath*', 'ath*'], ['mt76*', 'mt76*'], ['diffserv*', 'diffserv*'], ['switch*', 'switch*'], ['config*', 'config*'],
  ['from:felix', 'from:felix'], ['from:dave', 'from:dave'], ['from:toke', 'from:toke'], ['from:hauke', 'from:hauke'], ['from:nbd.name', 'from:nbd.name'],
  ['to:openwrt-devel', 'to:openwrt-devel'], ['cc:nbd', 'to:nbd'], ['subject:patch', 'subject:patch'], ['subject:ramips', 'subject:ramips'], ['subject:"cake"', 'subject:cake'],
  ['list:cake', 'to:cake'], ['list:openwrt-devel', 'to:openwrt-devel'], ['has:attachment', 'tag:attachment'], ['filename:patch', 'attachment:patch'], ['has:attachment patch', 'tag:attachment and patch'],
  ['is:unread', 'tag:unread'], ['is:unread kernel', 'tag:unread and kernel'], ['after:2019-06-01', 'date:2019-06-01..'], ['before:2019-05-01', 'date:..2019-04-30'], ['after:2019-05-01 before:2019-06-01 wifi', 'date:2019-05-01..2019-05-31 and wifi'],
  ['wifi OR wireless', 'wifi or wireless'], ['cake -codel', 'cake and not codel'], ['ubus NOT procd', 'ubus and not procd'], ['(mt76 OR ath10k) firmware', '(mt76 or ath10k) and firmware'], ['from:felix mt76', 'from:felix and mt76'],
  ['the', 'the'], ['click here', 'click and here'], ['free offer', 'free and offer'], ['sqm -is:unread', 'sqm and not tag:unread'], ['uboot OR u-boot', 'uboot or u-boot'],
];

const p95 = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil(values.length * 0.95) - 1)] as number;

async function dirSize(path: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    total += e.isDirectory() ? await dirSize(p) : (await stat(p)).size;
  }
  return total;
}

function ensureNotmuch(log: (line: string) => void): void {
  try {
    execFileSync('notmuch', ['--version'], { stdio: 'ignore' });
  } catch {
    log('search: notmuch missing; installing the Debian package');
    execFileSync('apt-get', ['install', '-y', 'notmuch'], { stdio: 'ignore' });
  }
}

export function searchBenchmark(couch: Couch): Benchmark {
  return {
    name: 'search',
    async run({ log }) {
      ensureNotmuch(log);
      const wanted = searchBenchMessagesSetting();
      const corpus = await openCorpus(corpusDirSetting());
      const scratch = await mkdtemp(join(tmpdir(), 'raindrop-bench-search-'));
      const name = `bench_search_${Date.now()}`;
      let registry: SchemaRegistry | undefined;
      try {
        const files = await realMessageFiles(corpus, wanted);
        await installDatabase(couch, name, [], silentLogger);
        const db = useDatabase(couch, name);
        registry = await SchemaRegistry.load(db);
        for (let i = 0; i < files.length; i += 200) {
          await storeRawMessages(registry, db, await Promise.all(files.slice(i, i + 200).map(async (f) => ({ bytes: await readFile(f), receivedFrom: 'import:bench' }))));
        }
        const queueStart = performance.now();
        const runner = await QueueRunner.start({ db, registry, logger: silentLogger });
        try {
          await runner.runUntilIdle();
        } finally {
          await runner.close();
        }
        log(`search: ${files.length} messages imported and derived by the queue in ${((performance.now() - queueStart) / 1000).toFixed(0)} s (not part of the numbers below)`);

        // Raindrop: a fresh index from the database.
        const indexPath = join(scratch, 'raindrop', 'index.sqlite');
        const index = SearchIndex.open(indexPath);
        const indexStart = performance.now();
        await catchUp({ db, index });
        const indexSeconds = (performance.now() - indexStart) / 1000;
        const indexed = index.count();
        index.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
        const ourSize = await dirSize(join(scratch, 'raindrop'));
        for (const [q] of queries) runSearch(index, q);
        const ours: number[] = [];
        for (const [q] of queries) {
          const t0 = performance.now();
          runSearch(index, q);
          ours.push(performance.now() - t0);
        }
        index.close();

        // notmuch on a Maildir of the same raw files.
        const maildir = join(scratch, 'maildir');
        await mkdir(join(maildir, 'cur'), { recursive: true });
        await mkdir(join(maildir, 'new'), { recursive: true });
        await mkdir(join(maildir, 'tmp'), { recursive: true });
        for (const [i, f] of files.entries()) await copyFile(f, join(maildir, 'cur', `${i}.bench:2,`));
        const config = join(scratch, 'notmuch-config');
        await writeFile(config, `[database]\npath=${maildir}\n[user]\nname=Bench\nprimary_email=bench@example.org\n[new]\ntags=unread;inbox;\n[maildir]\nsynchronize_flags=false\n`);
        const env = { ...processEnv(), NOTMUCH_CONFIG: config };
        const nmStart = performance.now();
        await run('notmuch', ['new', '--quiet'], { env });
        const nmSeconds = (performance.now() - nmStart) / 1000;
        const nmCount = Number((await run('notmuch', ['count', '*'], { env })).stdout.trim());
        const nmSize = await dirSize(join(maildir, '.notmuch'));
        for (const [, q] of queries) await run('notmuch', ['search', '--limit=20', q], { env });
        const theirs: number[] = [];
        for (const [, q] of queries) {
          const t0 = performance.now();
          await run('notmuch', ['search', '--limit=20', q], { env });
          theirs.push(performance.now() - t0);
        }
        const mb = (b: number) => b / 1024 / 1024;
        const out: Measurement[] = [
          { name: 'search.index-rate', value: indexed / indexSeconds, unit: 'msgs/s', notes: `${indexed} messages, fresh index from the database (changes feed, documents by id, SQLite FTS5)` },
          { name: 'search.notmuch-new-rate', value: nmCount / nmSeconds, unit: 'msgs/s', notes: `notmuch new on a Maildir of the same ${files.length} raw files (${nmCount} indexed)` },
          { name: 'search.index-rate-vs-notmuch', value: indexed / indexSeconds / (nmCount / nmSeconds), unit: '×', ratioOf: 'search.notmuch-new-rate', notes: 'goal: at least 1' },
          { name: 'search.query-median', value: median(ours), unit: 'ms', notes: '50 fixed queries, conversations, 20 per page, in process' },
          { name: 'search.query-p95', value: p95(ours), unit: 'ms', notes: 'goal: under 50 ms' },
          { name: 'search.notmuch-query-median', value: median(theirs), unit: 'ms', notes: 'notmuch search --limit=20, the same 50 queries (includes process start)' },
          { name: 'search.notmuch-query-p95', value: p95(theirs), unit: 'ms', notes: '' },
          { name: 'search.index-size', value: mb(ourSize), unit: 'MB', notes: `SQLite file after a WAL checkpoint; ${(ourSize / indexed / 1024).toFixed(1)} KB per message` },
          { name: 'search.notmuch-index-size', value: mb(nmSize), unit: 'MB', notes: 'the .notmuch Xapian database' },
        ];
        return out;
      } finally {
        await registry?.close();
        await destroyDatabase(couch, name).catch(() => undefined);
        await corpus.remove();
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}
