import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/core/entry-points.js';

const tsc = (args: string[]) =>
  spawnSync(process.execPath, [join(projectRoot, 'node_modules/typescript/bin/tsc'), ...args], { encoding: 'utf8' });

describe('types for extension authors', () => {
  it('type-check the shipped extensions and examples', () => {
    const result = tsc(['-p', join(projectRoot, 'extensions/tsconfig.json')]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('catch a misspelt rd call and an unchecked field in a plain JS file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'raindrop-types-'));
    try {
      const types = join(projectRoot, 'extensions/types/raindrop');
      await writeFile(join(dir, 'bad.js'), `// @ts-check\n/** @type {import('${types}').Extension} */\nexport default { id: 'x', source_schemas: ['a'], handler(doc, rd) { rd.emitt('a', {}); rd.emit('a', { n: doc.subject.length }); } };\n`);
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { allowJs: true, checkJs: true, noEmit: true, strict: true, module: 'ESNext', moduleResolution: 'Bundler', types: [] }, files: ['bad.js'] }));
      const result = tsc(['-p', join(dir, 'tsconfig.json')]);
      expect(result.status).not.toBe(0);
      expect(result.stdout).toMatch(/Property 'emitt' does not exist on type 'Rd'/);
      expect(result.stdout).toMatch(/'doc.subject' is of type 'unknown'/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
