import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/core/entry-points.js';
import { destroyDatabase } from '../../src/couch/ensure-database.js';
import { cliEntry } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

/**
 * The README's "Writing an extension" tutorial, run as a new user would: every shell
 * command of the section exactly as written (through /bin/sh, so globs and redirections
 * work), every file written from its code block, the edit applied from its diff block,
 * and each ```text block checked against the output of the command just before it.
 * `npx raindrop` is the project's CLI (a shim on PATH stands in for npx, which would
 * need the project directory as working directory). A fresh data directory (embedded
 * server) or a fresh database (RAINDROP_TEST_COUCH_URL).
 */

interface Block {
  lang: string;
  body: string;
  /** The prose just before the block: names the file a code block is written to. */
  before: string;
}

function tutorialBlocks(readme: string): Block[] {
  const start = readme.indexOf('<!-- tutorial:start -->');
  const end = readme.indexOf('<!-- tutorial:end -->');
  if (start < 0 || end < start) throw new Error('README.md has no tutorial markers');
  const lines = readme.slice(start, end).split('\n');
  const blocks: Block[] = [];
  let prose: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i] as string);
    if (!fence) {
      prose.push(lines[i] as string);
      continue;
    }
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] as string);
    blocks.push({ lang: fence[1] ?? '', body: `${body.join('\n')}\n`, before: prose.join('\n') });
    prose = [];
  }
  return blocks;
}

const t = useTestDatabase('tutorial');
let work: string;
let env: Record<string, string>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'raindrop-tutorial-'));
  // The user's project directory: the sample mail is under node_modules.
  await symlink(join(projectRoot, 'node_modules'), join(work, 'node_modules'));
  const bin = join(work, '.bin');
  await mkdir(bin);
  await writeFile(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = raindrop ]; then shift; fi\nexec "${process.execPath}" --no-node-snapshot "${cliEntry()}" "$@"\n`);
  await chmod(join(bin, 'npx'), 0o755);
  env = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: work,
    RAINDROP_CONFIG: join(work, 'no-config.json'),
    RAINDROP_LOG_LEVEL: 'warn',
    RAINDROP_DATA_DIR: join(work, 'data'),
  };
  if (!t.embedded) {
    const url = new URL(t.url);
    url.username = encodeURIComponent(t.username);
    url.password = encodeURIComponent(t.password);
    env.RAINDROP_COUCH_URL = url.toString();
    env.RAINDROP_DB = `${t.db.name}_readme`;
  }
});
afterAll(async () => {
  if (env.RAINDROP_DB) await destroyDatabase(t.couch, env.RAINDROP_DB).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

function sh(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The file a code block belongs to: the last `path` the prose before it names. */
function fileNamed(prose: string, ext: string): string {
  const names = [...prose.matchAll(/`([\w./-]+)`/g)].map((m) => m[1] as string).filter((n) => n.endsWith(ext) && n.includes('/'));
  const name = names.at(-1);
  if (!name) throw new Error(`no file name before a ${ext} block in the tutorial: ${prose.slice(-200)}`);
  return name;
}

describe('the README tutorial', () => {
  it('runs as written in a fresh data directory and gives the documents it says, with no error', async () => {
    const blocks = tutorialBlocks(await readFile(join(projectRoot, 'README.md'), 'utf8'));
    expect(blocks.filter((b) => b.lang === 'sh').length).toBeGreaterThan(4);
    let last: { command: string; stdout: string } | undefined;
    let lastJs: string | undefined;
    const ran: string[] = [];
    for (const block of blocks) {
      if (block.lang === 'sh') {
        for (const line of block.body.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))) {
          const result = await sh(line);
          ran.push(line);
          expect(result.code, `"${line}" failed:\n${result.stderr}\n${result.stdout}`).toBe(0);
          // Nothing a user is told about should be a failure or a warning.
          expect(result.stderr, `"${line}" printed:\n${result.stderr}`).not.toMatch(/error|warn|refused|failed/i);
          last = { command: line, stdout: result.stdout };
        }
      } else if (block.lang === 'text') {
        if (!last) throw new Error('a text block before any command');
        for (const expected of block.body.split('\n').map((l) => l.trim()).filter(Boolean)) {
          expect(last.stdout, `the output of "${last.command}" should contain: ${expected}`).toContain(expected);
        }
      } else if (block.lang === 'js' || block.lang === 'json') {
        const name = fileNamed(block.before, `.${block.lang}`);
        await mkdir(dirname(join(work, name)), { recursive: true });
        await writeFile(join(work, name), block.body);
        if (block.lang === 'js') lastJs = name;
      } else if (block.lang === 'diff') {
        if (!lastJs) throw new Error('a diff block before any file');
        const removed = block.body.split('\n').filter((l) => l.startsWith('-')).map((l) => l.slice(1)).join('\n');
        const added = block.body.split('\n').filter((l) => l.startsWith('+')).map((l) => l.slice(1)).join('\n');
        const file = join(work, lastJs);
        const source = await readFile(file, 'utf8');
        expect(source, 'the diff applies to the file as the tutorial wrote it').toContain(removed);
        await writeFile(file, source.replace(removed, added));
      } else {
        throw new Error(`the tutorial has a block of unknown kind "${block.lang}"`);
      }
    }
    // The tutorial did what it promises: installed, ran on every parsed message, re-derived.
    expect(ran).toEqual(expect.arrayContaining(['npx raindrop init --extensions my-extensions', 'npx raindrop process']));
    const status = JSON.parse((await sh('npx raindrop status --json')).stdout) as { schemas: Record<string, number>; extensions: Array<{ id: string; errors: number; lag: number; source: string }> };
    expect(status.schemas['me.subject-words']).toBe(status.schemas['rd.msg.email']);
    expect(status.schemas['rd.msg.email']).toBe(5);
    expect(status.schemas['rd.core.error'] ?? 0).toBe(0);
    expect(status.extensions.find((e) => e.id === 'me.subject-words')).toMatchObject({ errors: 0, source: join(work, 'my-extensions') });
    // A plain init (the hint users follow) keeps the extension installed.
    const init = await sh('npx raindrop init --json');
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ extensions: { removed: [], installed: expect.arrayContaining([expect.objectContaining({ id: 'me.subject-words', written: false })]) } });
  }, 300_000);
});
