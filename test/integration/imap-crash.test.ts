/**
 * `raindrop sync` killed with SIGKILL at random points, again and again, then run to the
 * end: the raw item set (and where each message lives, and the bytes) equals that of an
 * uninterrupted sync of the same server. The database server is the run's shared one,
 * so a kill can land in the middle of a request: the server finishes it or not, as
 * a real CouchDB would.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { silentLogger } from '../../src/core/index.js';
import { bulkGet } from '../../src/couch/bulk-get.js';
import type { Db } from '../../src/couch/connect.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { syncAccount } from '../../src/protocols/imap/sync-account.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { type Corpus, messageFiles, openCorpus } from '../helpers/corpus.js';
import { type Dovecot, startDovecot } from '../helpers/dovecot.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const killed = useTestDatabase('imap_kill');
const reference = useTestDatabase('imap_ref');
let dovecot: Dovecot;
let corpus: Corpus;
let home: string;
let configFile: string;

/** How many times the sync is killed; each kill is at a random point (seeded). */
const kills = 12;
const seed = Number(process.env.RAINDROP_KILL_SEED ?? Date.now() % 100_000);

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated. */
function random(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function prepare(db: Db): Promise<void> {
  await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(db, builtInSchemaDir());
}

async function docsOf(db: Db, schema: string): Promise<Map<string, Record<string, unknown>>> {
  const view = (await db.scope.view('rd_core', 'by_schema', { key: schema, reduce: false })) as unknown as { rows: Array<{ id: string }> };
  const docs = await bulkGet(db, view.rows.map((r) => r.id));
  return new Map([...docs].map(([id, d]) => [id, d as Record<string, unknown>]));
}

async function docCount(db: Db): Promise<number> {
  return ((await db.scope.info()) as unknown as { doc_count: number }).doc_count;
}

function couchArgs(db: Db): string[] {
  const url = new URL(killed.url);
  url.username = encodeURIComponent(killed.username);
  url.password = encodeURIComponent(killed.password);
  return ['--couch', url.toString(), '--db', db.name, '--config', configFile];
}

beforeAll(async () => {
  dovecot = await startDovecot();
  corpus = await openCorpus(inject('corpusDir'));
  const files = await messageFiles(await corpus.unpack('openwrt-devel'));
  const messages = await Promise.all(files.slice(0, 2500).map((f) => readFile(f)));
  // INBOX with some read and flagged mail; a second folder sharing 30 messages with it.
  await dovecot.deliver('INBOX', messages.slice(0, 2300), (i) => (i % 4 === 0 ? 'S' : i % 9 === 0 ? 'F' : ''));
  await dovecot.deliver('Lists', [...messages.slice(2300, 2500), ...messages.slice(0, 30)]);
  await prepare(killed.db);
  await prepare(reference.db);
  home = await mkdtemp(join(tmpdir(), 'raindrop-imap-kill-'));
  configFile = join(home, 'config.json');
  await writeFile(configFile, JSON.stringify({ accounts: { kill: { protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password } } }), { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await dovecot?.close();
  await corpus?.remove();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('raindrop sync killed at random points', () => {
  it(`loses and duplicates nothing (${kills} kills with SIGKILL, seed in the log)`, async () => {
    // The uninterrupted sync.
    const registry = await SchemaRegistry.load(reference.db);
    try {
      const summary = await syncAccount({ registry, db: reference.db, logger: silentLogger, account: { name: 'kill', protocol: 'imap', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: dovecot.password, passwordFile: undefined, passwordEnv: undefined, folders: [], excludeFolders: [], identities: [] } });
      expect(summary).toMatchObject({ result: 'ok', fetched: 2530 });
    } finally {
      await registry.close();
    }

    // Kill points are spread over the work still to do, in documents, so that most kills
    // interrupt a sync however fast the machine is (a fixed time or document count let a
    // fast CI machine finish 8 of 12 syncs before their kill).
    const total = await docCount(reference.db);
    const rand = random(seed);
    const points: string[] = [];
    let done = 0;
    for (let k = 0; k < kills; k++) {
      const child = startCli(['sync', 'kill', ...couchArgs(killed.db)], {});
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let finished = false;
      void exited.then(() => (finished = true));
      const before = await docCount(killed.db);
      const share = Math.max(1, Math.floor((total - before) / (kills - k)));
      const sleep = (ms: number) => Promise.race([exited, new Promise((r) => setTimeout(r, ms))]);
      /** Until `n` documents are stored, the sync ends, or `ms` pass. */
      const upTo = async (n: number, ms = Number.POSITIVE_INFINITY) => {
        const end = Date.now() + ms;
        while (!finished && Date.now() < end && (await docCount(killed.db)) < n) await sleep(10);
      };
      // A third of the kills at a random time from the start, before the first write
      // (start-up, push, folder discovery); a third at a random time after the sync began
      // writing; a third once a random number of documents more were written (mid-batch,
      // mid-request). None later than this kill's share of the remaining documents.
      const kind = k % 3;
      if (kind === 0) {
        const ms = 200 + Math.floor(rand() * 1800);
        await upTo(before + 1, ms);
        points.push(`${ms} ms or first write`);
      } else if (kind === 1) {
        const ms = Math.floor(rand() * 600);
        await upTo(before + 1);
        await upTo(before + share, ms);
        points.push(`writing + ${ms} ms`);
      } else {
        const more = 1 + Math.floor(rand() * share);
        await upTo(before + more);
        points.push(`+${more} docs`);
      }
      if (finished) {
        done++;
        points[points.length - 1] += ' (finished first)';
      }
      child.kill('SIGKILL');
      await exited;
    }
    console.log(`seed ${seed}: ${kills - done} kills at ${points.join(', ')}`);
    // Most kills must really have interrupted a sync.
    expect(kills - done).toBeGreaterThanOrEqual(kills / 2);

    const final = await runCli(['sync', 'kill', '--json', ...couchArgs(killed.db)], {});
    expect(final.code, final.stderr).toBe(0);
    const again = await runCli(['sync', 'kill', '--json', ...couchArgs(killed.db)], {});
    expect(JSON.parse(again.stdout).accounts[0]).toMatchObject({ result: 'ok', fetched: 0 });

    // The same raw items, each with all its bytes.
    const rawRef = await docsOf(reference.db, 'rd.msg.rfc822');
    const raw = await docsOf(killed.db, 'rd.msg.rfc822');
    expect([...raw.keys()].sort()).toEqual([...rawRef.keys()].sort());
    for (const [id, doc] of raw) {
      expect(doc.sha256, id).toBe(rawRef.get(id)?.sha256);
      const att = (doc._attachments as Record<string, { length?: number }> | undefined)?.['rd.fetch/rfc822'];
      expect(att?.length, id).toBe(doc.size);
    }
    // The same locations (account, folder, UID) and flags.
    const strip = (m: Map<string, Record<string, unknown>>, field: string) => [...m].map(([id, d]) => [id, d[field]]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(strip(await docsOf(killed.db, 'rd.msg.location'), 'locations')).toEqual(strip(await docsOf(reference.db, 'rd.msg.location'), 'locations'));
    expect(strip(await docsOf(killed.db, 'rd.msg.seen'), 'seen')).toEqual(strip(await docsOf(reference.db, 'rd.msg.seen'), 'seen'));
    expect(strip(await docsOf(killed.db, 'rd.msg.flagged'), 'flagged')).toEqual(strip(await docsOf(reference.db, 'rd.msg.flagged'), 'flagged'));
  }, 180_000);
});
