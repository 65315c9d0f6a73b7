import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/core/entry-points.js';
import { runCli, startCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('cli');
let home: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'raindrop-cli-'));
  env = { HOME: home, RAINDROP_CONFIG: join(home, 'no-config.json'), RAINDROP_DATA_DIR: join(home, 'data'), RAINDROP_LOG_LEVEL: 'warn' };
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
    }
  }
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

function couchUrlWithLogin(): string {
  const url = new URL(t.url);
  url.username = encodeURIComponent(t.username);
  url.password = encodeURIComponent(t.password);
  return url.toString();
}

describe('raindrop CLI', () => {
  it('prints help and uses exit code 2 for usage errors', async () => {
    const help = await runCli(['--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: raindrop <command>/);
    expect(help.stdout).toMatch(/init .*\n.*serve/s);
    const unknown = await runCli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const badOption = await runCli(['status', '--bogus'], env);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/bogus/);
    expect((await runCli(['init', '--help'], env)).stdout).toMatch(/Examples:/);
  });

  it('init and status work against a given server, with --json', async () => {
    const db = `${t.db.name}_cli`;
    const args = ['--couch', couchUrlWithLogin(), '--db', db, '--json'];
    const first = await runCli(['init', ...args], env);
    expect(first.code, first.stderr).toBe(0);
    const ddocs = (await readdir(join(projectRoot, 'couchapp', 'ddocs'))).sort().map((d) => `_design/${d}`);
    expect(JSON.parse(first.stdout)).toMatchObject({ db, created: true, designDocs: { written: ddocs }, app: { written: true } });
    const again = await runCli(['init', ...args], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, designDocs: { written: [], unchanged: ddocs }, app: { written: false } });
    const status = await runCli(['status', ...args], env);
    expect(status.code, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as { db: string; docCount: number; schemas: Record<string, number> };
    const schemaFiles = (await readdir(join(projectRoot, 'schemas'))).filter((f) => f.endsWith('.json')).length;
    const builtIns = (await readdir(join(projectRoot, 'extensions'))).filter((f) => f.endsWith('.js')).length;
    // The design docs, the web app's (_design/rd_app), one rd.core.schema document per
    // schema file, one rd.ext.workqueue per built-in extension.
    expect(parsed).toMatchObject({ db, docCount: ddocs.length + 1 + schemaFiles + builtIns, schemas: { 'rd.core.schema': schemaFiles } });
    expect(status.stdout).not.toContain(t.password);
    await t.couch.server.db.destroy(db);
  });

  it('gives exit code 5 and hides the password when the credentials are wrong', async () => {
    const url = new URL(t.url);
    url.username = t.username;
    url.password = 'definitely-wrong-pw';
    const result = await runCli(['status', '--couch', url.toString(), '--json'], env);
    expect(result.code).toBe(5);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: 'COUCH_AUTH' });
    expect(result.stdout + result.stderr).not.toContain('definitely-wrong-pw');
  });

  it('gives exit code 4 when the server cannot be reached', async () => {
    // A port nothing listens on (port 1, used before, is one Node's fetch refuses outright,
    // which has its own message: couch-errors.test.ts).
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const result = await runCli(['status', '--couch', `http://127.0.0.1:${closed}`], env);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/could not reach CouchDB/);
  });

  it('works with no server at all by starting the embedded one for the command', async () => {
    const dataDir = join(home, 'solo');
    const init = await runCli(['init', '--data-dir', dataDir, '--json'], env);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ db: 'raindrop', created: true });
    const status = await runCli(['status', '--data-dir', dataDir, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ db: 'raindrop', schemas: { 'rd.core.schema': expect.any(Number) } });
    // Nothing keeps running after a command, and `url` says there is no server.
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
    const url = await runCli(['url', '--data-dir', dataDir], env);
    expect(url.code).toBe(6);
    expect(url.stderr).toMatch(/raindrop serve/);
  });

  it('serve answers on its port; other commands use it; SIGTERM stops it cleanly', async () => {
    const dataDir = join(home, 'served');
    const serve = startCli(['serve', '--app-port', '0', '--data-dir', dataDir, '--port', '0', '--json'], env);
    children.push(serve);
    let out = '';
    serve.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const started = Date.now();
    while (!out.trim().endsWith('}')) {
      if (serve.exitCode !== null || Date.now() - started > 30_000) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const info = JSON.parse(out) as { url: string; username: string };
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const welcome = (await (await fetch(`${info.url}/`)).json()) as { couchdb: string };
    expect(welcome.couchdb).toBe('Welcome');
    expect((await fetch(`${info.url}/raindrop`)).status).toBe(401);

    const status = await runCli(['status', '--data-dir', dataDir, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ server: info.url, db: 'raindrop' });
    const plain = await runCli(['url', '--data-dir', dataDir], env);
    expect(plain.stdout.trim()).toBe(info.url);
    const withLogin = await runCli(['url', '--credentials', '--data-dir', dataDir], env);
    const login = new URL(withLogin.stdout.trim());
    expect(login.username).toBe('admin');
    const authed = await fetch(`${info.url}/raindrop`, { headers: { authorization: `Basic ${Buffer.from(`${login.username}:${decodeURIComponent(login.password)}`).toString('base64')}` } });
    expect(authed.status).toBe(200);
    // A second serve on the same data dir is refused with its own exit code.
    const second = await runCli(['serve', '--app-port', '0', '--data-dir', dataDir, '--port', '0'], env);
    expect(second.code).toBe(7);

    serve.kill('SIGTERM');
    const code = await new Promise((r) => serve.once('close', r));
    expect(code).toBe(0);
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
  });

  it('ext check names what is wrong with a broken file (exit 9) and passes a good one', async () => {
    const bad = join(home, 'bad-ext.js');
    await writeFile(bad, "export default { id: 'Bad Id', source_schemas: [], handler: 1 };");
    const result = await runCli(['ext', 'check', bad], env);
    expect(result.code).toBe(9);
    expect(result.stdout).toMatch(/id: must be/);
    expect(result.stdout).toMatch(/source_schemas: must name at least one schema/);
    expect(result.stdout).toMatch(/handler: must be a function/);
    const good = await runCli(['ext', 'check', join(projectRoot, 'extensions/examples/subject-words.js')], env);
    expect(good.code, good.stdout + good.stderr).toBe(0);
  });

  it('ext run prints what the handler would emit, using --open fixtures', async () => {
    const ext = join(home, 'lookup.js');
    await writeFile(ext, `export default { id: 'test.lookup', source_schemas: ['rd.msg.email'], emits: ['test.out'], reads: ['rd.msg.body'],
      handler(doc, rd) { const body = rd.open(doc.rd_key, 'rd.msg.body'); rd.emit('test.out', { subject: doc.subject, preview: body ? body.preview : null }); rd.log.info('done'); } };`);
    const doc = join(home, 'doc.json');
    await writeFile(doc, JSON.stringify({ rd_key: ['email', 'm1'], rd_schema_id: 'rd.msg.email', subject: 'Hello' }));
    const fixtures = join(home, 'fixtures.json');
    await writeFile(fixtures, JSON.stringify([{ rd_key: ['email', 'm1'], rd_schema_id: 'rd.msg.body', preview: 'Hi there' }]));
    const result = await runCli(['ext', 'run', ext, '--doc', doc, '--open', fixtures, '--couch', couchUrlWithLogin(), '--db', t.db.name], env);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; emits: Array<{ schema: string; fields: unknown }>; logs: unknown[]; warnings: string[] };
    expect(report).toMatchObject({ ok: true, emits: [{ schema: 'test.out', key: ['email', 'm1'], fields: { subject: 'Hello', preview: 'Hi there' } }], logs: [{ level: 'info', message: 'done' }] });
    expect(report.warnings).toEqual([`unknown schema "test.out": its fields are printed but not validated; define it in ${join(home, 'test.out.json')}`]);
  });

  it('ext run --attachment hands raw bytes to an extension that parses mail', async () => {
    const eml = join(home, 'hello.eml');
    await writeFile(eml, 'From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <hello@example.org>\r\n\r\nHi Bob\r\n');
    const raw = join(home, 'raw.json');
    await writeFile(raw, JSON.stringify({ rd_key: ['email', 'hello@example.org'], rd_schema_id: 'rd.msg.rfc822', rd_schema_provider: 'rd.fetch', size: 1, sha256: '0' }));
    const result = await runCli(['ext', 'run', join(projectRoot, 'extensions/email.js'), '--doc', raw, '--attachment', `rd.fetch/rfc822=${eml}`], env);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, emits: [{ schema: 'rd.msg.email', fields: { subject: 'Grüße', from: { address: 'ann@example.org' } } }] });
  });

  it('init installs extension directories as rd.ext.workqueue documents and ext list shows them', async () => {
    const dir = join(home, 'my-extensions');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'words.js'), await readFile(join(projectRoot, 'extensions/examples/subject-words.js'), 'utf8'));
    // Its schema lives next to it.
    await writeFile(join(dir, 'example.subject-words.json'), await readFile(join(projectRoot, 'extensions/examples/example.subject-words.json'), 'utf8'));
    const db = `${t.db.name}_ext`;
    const args = ['--couch', couchUrlWithLogin(), '--db', db, '--json', '--extensions', dir];
    const init = await runCli(['init', ...args], env);
    expect(init.code, init.stderr).toBe(0);
    // The built-in extensions (extensions/*.js) are installed too.
    const mine = (r: { extensions: { installed: Array<{ id: string }> } }) => r.extensions.installed.filter((e) => !e.id.startsWith('rd.ext.'));
    const first = JSON.parse(init.stdout) as { extensions: { installed: Array<{ id: string }>; refused: unknown[]; removed: unknown[] } };
    expect(mine(first)).toMatchObject([{ id: 'example.subject-words', written: true }]);
    expect(first.extensions).toMatchObject({ refused: [], removed: [] });
    const list = await runCli(['ext', 'list', ...args], env);
    expect((JSON.parse(list.stdout) as { extensions: Array<{ id: string }> }).extensions.filter((e) => !e.id.startsWith('rd.ext.'))).toMatchObject([{ id: 'example.subject-words', source_schemas: ['rd.msg.email'], enabled: true, file: 'words.js', source: dir }]);
    // A broken file is refused (exit 9) without stopping the others; a removed file is uninstalled.
    await writeFile(join(dir, 'broken.js'), 'export default 42;');
    const again = await runCli(['init', ...args], env);
    expect(again.code).toBe(9);
    const second = JSON.parse(again.stdout) as { extensions: { installed: Array<{ id: string }> } };
    expect(mine(second)).toMatchObject([{ id: 'example.subject-words', written: false }]);
    expect(second).toMatchObject({ extensions: { refused: [{ problems: [expect.stringMatching(/export default/)] }] } });
    // A file gone from an installed directory leaves its extension installed, with its
    // stored code, until it is removed explicitly.
    await rm(join(dir, 'words.js'));
    await rm(join(dir, 'broken.js'));
    const gone = await runCli(['init', ...args], env);
    const third = JSON.parse(gone.stdout) as { extensions: { installed: Array<{ id: string }> } };
    expect(mine(third)).toEqual([]);
    expect(third).toMatchObject({ extensions: { removed: [], kept: [{ id: 'example.subject-words', reason: 'its file is gone' }] } });
    const removed = await runCli(['ext', 'remove', 'example.subject-words', ...args], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ id: 'example.subject-words', schemasRemoved: ['example.subject-words'] });
    const after = JSON.parse((await runCli(['ext', 'list', ...args], env)).stdout) as { extensions: Array<{ id: string }> };
    expect(after.extensions.map((e) => e.id)).not.toContain('example.subject-words');
    await t.couch.server.db.destroy(db);
  });

  it('schema list shows the installed schemas; schema check prints every failing path', async () => {
    const db = `${t.db.name}_schema`;
    const args = ['--couch', couchUrlWithLogin(), '--db', db];
    expect((await runCli(['init', ...args], env)).code).toBe(0);
    const list = await runCli(['schema', 'list', '--json', ...args], env);
    expect(JSON.parse(list.stdout).schemas).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'rd.account', version: 1 })]));
    const bad = join(home, 'account.json');
    await writeFile(bad, JSON.stringify({ name: 'work', protocol: 'imap', username: 'ann', identities: [['email', 'nope']], password: 'x' }));
    const check = await runCli(['schema', 'check', 'rd.account', bad, ...args], env);
    expect(check.code).toBe(10);
    expect(check.stdout).toMatch(/\/identities\/0\/1: must match format "email"/);
    expect(check.stdout).toMatch(/must NOT have additional properties \(password\)/);
    await writeFile(bad, JSON.stringify({ name: 'work', protocol: 'imap', username: 'ann', identities: [['email', 'ann@example.org']] }));
    expect((await runCli(['schema', 'check', 'rd.account', bad, ...args], env)).code).toBe(0);
    const migrate = await runCli(['schema', 'migrate', '--json', ...args], env);
    expect(migrate.code, migrate.stderr).toBe(0);
    await t.couch.server.db.destroy(db);
  });

  it('doctor checks node, native modules and the server', async () => {
    const result = await runCli(['doctor', '--couch', couchUrlWithLogin(), '--json'], env);
    expect(result.code, result.stdout).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(report.checks.map((c) => c.name)).toEqual(['node', 'native module leveldown', expect.stringMatching(/^native module isolated-vm-node2[04]$/), 'search engine', 'couchdb']);
    expect(report.checks.every((c) => c.ok)).toBe(true);
    const down = await runCli(['doctor', '--couch', 'http://127.0.0.1:1', '--json'], env);
    expect(down.code).toBe(8);
    // What npm ci runs after the build: no server, the rest the same.
    const local = await runCli(['doctor', '--no-server', '--couch', 'http://127.0.0.1:1', '--json'], env);
    expect(local.code, local.stdout).toBe(0);
    expect((JSON.parse(local.stdout) as { checks: Array<{ name: string }> }).checks.map((c) => c.name)).not.toContain('couchdb');
  });
});
