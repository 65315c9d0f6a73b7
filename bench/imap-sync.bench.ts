/**
 * Initial IMAP sync of the openwrt-devel archive from a local Dovecot, as a ratio against
 * a plain imapflow fetch of the same messages (BODY.PEEK[] of every message, bytes
 * dropped) measured in the same run: the physical floor of "get the mail off the server".
 * Also the heap/RSS growth of the sync. Skipped when Dovecot is not installed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { builtInSchemaDir, installSchemas } from '../src/cli/install-schemas.js';
import { corpusDirSetting } from '../src/config/index.js';
import { projectRoot } from '../src/core/entry-points.js';
import { silentLogger } from '../src/core/index.js';
import type { Couch } from '../src/couch/connect.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../src/couch/push-design-docs.js';
import { syncAccount } from '../src/protocols/imap/sync-account.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import { dovecotAvailable, startDovecot } from '../test/helpers/dovecot.js';
import type { Benchmark, Measurement } from './harness.js';

const run = promisify(execFile);

export function imapSyncBenchmark(couch: Couch): Benchmark {
  return {
    name: 'imap-sync',
    async run({ log, results }) {
      const ceiling = results.get('couch.bulk_docs.write');
      if (!dovecotAvailable()) {
        log('imap-sync: dovecot is not installed (apt-get install dovecot-imapd); skipped');
        return [];
      }
      const scratch = await mkdtemp(join(tmpdir(), 'raindrop-bench-imap-'));
      const dovecot = await startDovecot();
      const { db } = await ensureDatabase(couch, `bench_imap_${Date.now()}`);
      try {
        await run('tar', ['-xzf', join(corpusDirSetting(), 'openwrt-devel.tar.gz'), '-C', scratch]);
        const dir = join(scratch, 'openwrt-devel');
        const files = (await readdir(dir)).filter((f) => f.endsWith('.eml')).sort();
        const client = () => new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false, disableBinary: true });
        const loader = client();
        await loader.connect();
        for (const f of files) await loader.append('INBOX', await readFile(join(dir, f)));
        await loader.logout();
        log(`imap-sync: ${files.length} messages appended to Dovecot`);

        // The floor: a plain imapflow fetch of every message's bytes, in the same batches.
        const plain = client();
        await plain.connect();
        const lock = await plain.getMailboxLock('INBOX');
        let t0 = performance.now();
        let count = 0;
        let bytes = 0;
        for (let start = 1; start <= files.length; start += 200) {
          for await (const m of plain.fetch(`${start}:${Math.min(files.length, start + 199)}`, { uid: true, flags: true, source: true }, { uid: true })) {
            count++;
            bytes += m.source?.byteLength ?? 0;
          }
        }
        const plainSeconds = (performance.now() - t0) / 1000;
        lock.release();
        await plain.logout();

        await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
        await installSchemas(db, builtInSchemaDir());
        const registry = await SchemaRegistry.load(db);
        const docsBefore = ((await db.scope.info()) as unknown as { doc_count: number }).doc_count;
        const rssBefore = process.memoryUsage().rss;
        let rssPeak = rssBefore;
        const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
        t0 = performance.now();
        const summary = await syncAccount({
          registry, db, logger: silentLogger,
          account: { name: 'bench', protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password, passwordFile: undefined, passwordEnv: undefined, folders: ['INBOX'], excludeFolders: [], identities: [] },
        });
        const syncSeconds = (performance.now() - t0) / 1000;
        clearInterval(sampler);
        await registry.close();
        if (summary.result !== 'ok' || summary.fetched !== count) throw new Error(`imap-sync: sync ${summary.result}, ${summary.fetched} of ${count} messages (${summary.error?.message ?? ''})`);
        const docCount = ((await db.scope.info()) as unknown as { doc_count: number }).doc_count - docsBefore;
        const plainRate = count / plainSeconds;
        const syncRate = summary.fetched / syncSeconds;
        const out: Measurement[] = [
          { name: 'imap-plain-fetch', value: plainRate, unit: 'msg/s', notes: `${count} messages, ${(bytes / 1e6).toFixed(0)} MB, imapflow only` },
          { name: 'imap-initial-sync', value: syncRate, unit: 'msg/s', notes: `${summary.stored} stored, ${summary.duplicates} duplicates, ${summary.refused} refused` },
          { name: 'imap-sync-vs-plain', value: syncRate / plainRate, unit: 'ratio', ratioOf: 'imap-plain-fetch', notes: 'target >= 0.7' },
          // The store's side: documents the sync wrote per second (raw items with their
          // bytes, locations, flags, folder state) against the 2 KB-document ceiling.
          ...(ceiling ? [{ name: 'imap-sync-docs-vs-ceiling', value: docCount / syncSeconds / ceiling.value, unit: 'ratio', ratioOf: 'couch.bulk_docs.write', notes: `${docCount} documents (${(docCount / count).toFixed(2)} per message) at ${Math.round(docCount / syncSeconds)} docs/s` }] : []),
          { name: 'imap-sync-rss-growth', value: (rssPeak - rssBefore) / 1e6, unit: 'MB', notes: 'peak RSS during the sync minus before' },
        ];
        return out;
      } finally {
        await destroyDatabase(couch, db.name).catch(() => undefined);
        await dovecot.close();
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}
