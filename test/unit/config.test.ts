import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, writeConfigFile } from '../../src/config/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raindrop-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configuration', () => {
  it('layers defaults < file < environment < flags', async () => {
    const file = join(dir, 'config.json');
    await writeConfigFile(file, { db: 'fromfile', port: 7000, logLevel: 'warn', dataDir: join(dir, 'file-data') });
    const base = loadConfig({ config: file }, {});
    expect(base).toMatchObject({ db: 'fromfile', port: 7000, logLevel: 'warn', dataDir: join(dir, 'file-data'), couchUrl: undefined });
    const env = { RAINDROP_DB: 'fromenv', RAINDROP_PORT: '7001', RAINDROP_COUCH_URL: 'http://u:p@127.0.0.1:5984' };
    expect(loadConfig({ config: file }, env)).toMatchObject({ db: 'fromenv', port: 7001, logLevel: 'warn', couchUrl: 'http://u:p@127.0.0.1:5984' });
    expect(loadConfig({ config: file, db: 'fromflag', port: '7002' }, env)).toMatchObject({ db: 'fromflag', port: 7002 });
  });

  it('uses the defaults with no file at all', () => {
    const config = loadConfig({ config: join(dir, 'absent.json') }, { RAINDROP_DATA_DIR: join(dir, 'd') });
    expect(config).toMatchObject({ db: 'raindrop', port: 5994, logLevel: 'info', dataDir: join(dir, 'd') });
  });

  it('writes the file with mode 0600 because it will hold secrets', async () => {
    const file = join(dir, 'sub', 'config.json');
    await writeConfigFile(file, { db: 'x' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('names what is wrong in a bad file, variable or flag', async () => {
    const file = join(dir, 'config.json');
    await writeFile(file, '{"db": "Bad Name", "colour": "blue"}');
    expect(() => loadConfig({ config: file }, {})).toThrow(/colour/);
    await writeFile(file, '{not json');
    expect(() => loadConfig({ config: file }, {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => loadConfig({ config: join(dir, 'none.json'), port: 'eighty' }, {})).toThrow(/port/);
    expect(() => loadConfig({ config: join(dir, 'none.json') }, { RAINDROP_COUCH_URL: 'ftp://x' })).toThrow(/couchUrl/);
  });
});
