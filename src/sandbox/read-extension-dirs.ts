import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RaindropError, errorCodes } from '../core/index.js';
import type { ExtensionSource } from './types.js';

/**
 * Reads the extension files of some directories: every `*.js` file directly inside
 * (sub-folders such as `types/` or `examples/` are not extensions). Later directories
 * come after earlier ones, so the pool reports a duplicate id against the first.
 */
export async function readExtensionDirs(dirs: readonly string[]): Promise<ExtensionSource[]> {
  const sources: ExtensionSource[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => e.name).sort();
    } catch (cause) {
      throw new RaindropError(errorCodes.CONFIG_INVALID, `cannot read the extension directory ${dir}: ${(cause as Error).message}; check --extensions / RAINDROP_EXTENSIONS`, { cause });
    }
    for (const name of names) sources.push(await readExtensionFile(join(dir, name)));
  }
  return sources;
}

export async function readExtensionFile(path: string): Promise<ExtensionSource> {
  const full = resolve(path);
  try {
    return { origin: full, code: await readFile(full, 'utf8') };
  } catch (cause) {
    throw new RaindropError(errorCodes.EXTENSION_INVALID, `cannot read the extension file ${full}: ${(cause as Error).message}`, { cause });
  }
}
