import { execFile } from 'node:child_process';
import { corpusDirSetting, threadingArchivesSetting } from '../src/config/index.js';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installExtensions } from '../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../src/cli/install-schemas.js';
import { projectRoot } from '../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../src/core/index.js';
import { bulkGet } from '../src/couch/bulk-get.js';
import type { Couch } from '../src/couch/connect.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../src/couch/push-design-docs.js';
import { storeRawMessages } from '../src/protocols/store-raw.js';
import { QueueRunner } from '../src/queue/queue-runner.js';
import { SchemaRegistry } from '../src/schema/registry.js';
import type { Benchmark, Measurement } from './harness.js';

/**
 * Threading check on the list archives (`npm run bench -- threading-check`): imports an
 * archive, runs email.js + thread.js + conversation.js through the real queue, and checks
 * the conversations against expectations derived here, independently of the extensions,
 * from the raw Message-ID / In-Reply-To / References headers:
 *   (a) a message whose parent (last In-Reply-To, else last References entry) is in the
 *       archive lands in its parent's conversation;
 *   (b) no conversation mixes unrelated threads: conversations whose members span more
 *       than one connected component of the reference graph, and of those how many are
 *       explained by the subject fallback (the components share a normalised base
 *       subject);
 *   (c) the number of conversations and the largest.
 * Archives: RAINDROP_BENCH_THREADING_ARCHIVES (default "cake,openwrt-devel"), from the
 * corpus directory (RAINDROP_CORPUS_DIR, default ../shared/corpus). Not part of the
 * default `npm run bench` run: it is a correctness check that takes minutes.
 */
const run = promisify(execFile);
const storeChunk = 500;

interface Headers {
  id: string | undefined;
  inReplyTo: string[];
  references: string[];
  subject: string;
}

/** The header block read here (not by the extensions): unfolded, ids without <>. */
function readHeaders(bytes: Buffer): Headers {
  let text = bytes.subarray(0, 256 * 1024).toString('latin1');
  if (text.startsWith('From ')) text = text.slice(text.indexOf('\n') + 1);
  const end = /\r?\n\r?\n/.exec(text);
  const block = (end ? text.slice(0, end.index) : text).replace(/\r?\n[ \t]+/g, ' ');
  const all = (name: string) => [...block.matchAll(new RegExp(`^${name}[ \\t]*:(.*)$`, 'gim'))].map((m) => m[1] ?? '');
  const ids = (values: string[]) => values.flatMap((v) => [...v.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!)).filter((id) => id.includes('@') && !id.startsWith('@') && !id.endsWith('@'));
  return { id: ids(all('message-id'))[0], inReplyTo: ids(all('in-reply-to')), references: ids(all('references')), subject: all('subject')[0]?.trim() ?? '' };
}

/** Normalised base subject, written here independently of thread.js: encoded words kept
 * as they are, reply/forward prefixes and [list] tags removed, lower case. */
function baseSubject(subject: string): string {
  let s = subject.replace(/\s+/g, ' ').trim();
  for (let changed = true; changed; ) {
    const before = s;
    s = s.replace(/^(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r|odp|res|enc)(?:\[\d+\]|\(\d+\))?\s*:\s*/i, '').replace(/^\[[^\]]*\]\s*/, '');
    changed = s !== before && s.length > 0;
  }
  return s.toLowerCase();
}

class UnionFind {
  private readonly parent = new Map<string, string>();
  find(x: string): string {
    let r = x;
    for (let p = this.parent.get(r); p !== undefined && p !== r; p = this.parent.get(r)) r = p;
    if (!this.parent.has(x)) this.parent.set(x, x);
    for (let y = x; y !== r; ) {
      const next = this.parent.get(y)!;
      this.parent.set(y, r);
      y = next;
    }
    return r;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

async function messageFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (/\.eml$/i.test(e.name)) out.push(p);
    }
  };
  await walk(root);
  return out.sort();
}

export interface ThreadingFigures {
  archive: string;
  files: number;
  messages: number;
  withoutId: number;
  withoutConversation: number;
  importSeconds: number;
  queueSeconds: number;
  queueFailed: number;
  parentInArchive: number;
  joinedParent: number;
  components: number;
  conversations: number;
  largestConversation: number;
  largestComponent: number;
  mixedConversations: number;
  mixedExplainedBySubject: number;
  splitComponents: number;
}

export async function checkArchive(couch: Couch, archive: string, log: (line: string) => void): Promise<ThreadingFigures> {
  const scratch = await mkdtemp(join(tmpdir(), 'raindrop-threading-'));
  const name = `bench_threading_${archive.replace(/[^a-z0-9]/g, '_')}_${process.pid}`;
  const { db } = await ensureDatabase(couch, name);
  let registry: SchemaRegistry | undefined;
  try {
    await run('tar', ['-xzf', join(corpusDirSetting(), `${archive}.tar.gz`), '-C', scratch]);
    const files = await messageFiles(scratch);
    const extDir = join(scratch, '.extensions');
    await mkdir(extDir, { recursive: true });
    for (const f of ['email.js', 'thread.js', 'conversation.js']) await cp(join(projectRoot, 'extensions', f), join(extDir, f));
    await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
    const schemas = await installSchemas(db, builtInSchemaDir());
    if (schemas.refused.length > 0) throw new Error(`schemas refused: ${JSON.stringify(schemas.refused)}`);
    registry = await SchemaRegistry.load(db);
    const ext = await installExtensions(registry, db, [extDir], silentLogger);
    if (ext.refused.length > 0) throw new Error(`extensions refused: ${JSON.stringify(ext.refused)}`);

    // Expectations from the raw headers.
    const byId = new Map<string, Headers>();
    let withoutId = 0;
    const t0 = performance.now();
    for (let i = 0; i < files.length; i += storeChunk) {
      const chunk = await Promise.all(files.slice(i, i + storeChunk).map((f) => readFile(f)));
      for (const bytes of chunk) {
        const h = readHeaders(bytes);
        if (h.id === undefined) withoutId++;
        else if (!byId.has(h.id)) byId.set(h.id, h);
      }
      await storeRawMessages(registry, db, chunk.map((bytes) => ({ bytes, receivedFrom: `import:${archive}` })));
    }
    const importSeconds = (performance.now() - t0) / 1000;
    log(`  ${archive}: ${files.length} files stored in ${importSeconds.toFixed(1)} s; running the queue`);
    const t1 = performance.now();
    const runner = await QueueRunner.start({ db, registry, logger: silentLogger });
    let report;
    try {
      report = await runner.runUntilIdle();
    } finally {
      await runner.close();
    }
    const queueSeconds = (performance.now() - t1) / 1000;
    log(`  ${archive}: queue ${queueSeconds.toFixed(1)} s (${report.ran} runs, ${report.failed} failed)`);

    // What the extensions made: the conversation of each message.
    const ids = [...byId.keys()];
    const docs = await bulkGet(db, ids.map((id) => docIdFor(['email', id], 'rd.msg.conversation')));
    const conv = new Map<string, string>();
    for (const id of ids) {
      const d = docs.get(docIdFor(['email', id], 'rd.msg.conversation'));
      const c = (d?.conversation_id as [string, string] | undefined)?.[1];
      if (c !== undefined) conv.set(id, c);
    }

    // (a) parent in the archive -> same conversation.
    let parentInArchive = 0;
    let joinedParent = 0;
    for (const [id, h] of byId) {
      const parent = h.inReplyTo.at(-1) ?? h.references.at(-1);
      if (parent === undefined || parent === id || !byId.has(parent)) continue;
      parentInArchive++;
      if (conv.get(id) !== undefined && conv.get(id) === conv.get(parent)) joinedParent++;
      else if (joinedParent + 5 > parentInArchive) log(`    not with its parent: ${id} -> ${parent}`);
    }

    // (b) reference components vs conversations.
    const uf = new UnionFind();
    for (const [id, h] of byId) {
      uf.find(id);
      for (const r of [...h.references, ...h.inReplyTo]) if (r !== id) uf.union(id, r);
    }
    const members = new Map<string, string[]>();
    for (const [id, c] of conv) members.set(c, [...(members.get(c) ?? []), id]);
    const componentSizes = new Map<string, number>();
    for (const id of byId.keys()) componentSizes.set(uf.find(id), (componentSizes.get(uf.find(id)) ?? 0) + 1);
    let mixed = 0;
    let explained = 0;
    for (const list of members.values()) {
      const comps = new Set(list.map((id) => uf.find(id)));
      if (comps.size <= 1) continue;
      mixed++;
      // Explained by the subject fallback when joining components that share a base subject connects them all.
      const local = new UnionFind();
      const bySubject = new Map<string, string>();
      for (const id of list) {
        const comp = uf.find(id);
        local.find(comp);
        const base = baseSubject(byId.get(id)!.subject);
        if (base.length < 3) continue;
        const seen = bySubject.get(base);
        if (seen === undefined) bySubject.set(base, comp);
        else local.union(seen, comp);
      }
      if (new Set([...comps].map((c) => local.find(c))).size === 1) explained++;
      else if (mixed - explained <= 5) log(`    mixed, not explained by subject: ${list.length} messages, ${comps.size} components, subjects ${[...new Set(list.map((id) => baseSubject(byId.get(id)!.subject)))].slice(0, 4).join(' | ')}`);
    }
    // Components spread over several conversations (the other direction).
    const convsOfComponent = new Map<string, Set<string>>();
    for (const [id, c] of conv) {
      const k = uf.find(id);
      convsOfComponent.set(k, (convsOfComponent.get(k) ?? new Set()).add(c));
    }
    const splitComponents = [...convsOfComponent.values()].filter((s) => s.size > 1).length;

    return {
      archive,
      files: files.length,
      messages: byId.size,
      withoutId,
      withoutConversation: ids.length - conv.size,
      importSeconds,
      queueSeconds,
      queueFailed: report.failed,
      parentInArchive,
      joinedParent,
      components: componentSizes.size,
      conversations: members.size,
      largestConversation: Math.max(0, ...[...members.values()].map((l) => l.length)),
      largestComponent: Math.max(0, ...componentSizes.values()),
      mixedConversations: mixed,
      mixedExplainedBySubject: explained,
      splitComponents,
    };
  } finally {
    await registry?.close();
    await destroyDatabase(couch, name);
    await rm(scratch, { recursive: true, force: true });
  }
}

export function threadingCheckBenchmark(couch: Couch): Benchmark {
  return {
    name: 'threading-check',
    async run({ log }) {
      const archives = threadingArchivesSetting();
      const out: Measurement[] = [];
      for (const archive of archives) {
        const f = await checkArchive(couch, archive, log);
        log(`  ${archive}: ${JSON.stringify(f)}`);
        const pct = f.parentInArchive === 0 ? 100 : (100 * f.joinedParent) / f.parentInArchive;
        const m = (name: string, value: number, unit: string, notes?: string) => out.push({ name: `threading ${archive} ${name}`, value, unit, ...(notes ? { notes } : {}) });
        m('with parent in archive, joined', pct, '%', `${f.joinedParent} of ${f.parentInArchive}`);
        m('mixed conversations', f.mixedConversations, 'conversations', `${f.mixedExplainedBySubject} explained by subject fallback`);
        m('conversations', f.conversations, 'conversations', `largest ${f.largestConversation}; ${f.components} reference components (largest ${f.largestComponent}); ${f.splitComponents} components split`);
        m('messages', f.messages, 'messages', `${f.files} files, ${f.withoutId} without Message-ID, ${f.withoutConversation} without conversation`);
        m('queue time', f.queueSeconds, 's', `${f.queueFailed} failed runs; import ${f.importSeconds.toFixed(1)} s`);
      }
      return out;
    },
  };
}
