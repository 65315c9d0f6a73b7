/**
 * Locating the compiled JavaScript of a module that must run in its own process
 * (`child_process.fork` needs a JS file). The same code runs from `dist/` (compiled by
 * `npm run build`) and from the TypeScript sources under vitest; in both cases a child
 * runs the compiled file, which `npm test` builds first.
 */

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaindropError, errorCodes } from './errors.js';

const here = fileURLToPath(import.meta.url);

/**
 * This file is `src/core/entry-points.ts` in the sources and
 * `dist/src/core/entry-points.js` once compiled; the project root is found from that
 * rather than from the working directory, which belongs to the user.
 */
export const projectRoot: string = here.endsWith('.ts')
  ? resolve(dirname(here), '..', '..')
  : resolve(dirname(here), '..', '..', '..');

/**
 * The absolute path of the compiled file for a source path relative to the project root,
 * e.g. `compiledEntry('src/couch/embedded/server-process.ts')` →
 * `<root>/dist/src/couch/embedded/server-process.js`. Throws when it was not built.
 */
export function compiledEntry(relativePathFromProjectRoot: string): string {
  const js = relativePathFromProjectRoot.replace(/\.ts$/, '.js');
  const path = join(projectRoot, 'dist', js);
  if (!existsSync(path)) {
    throw new RaindropError(
      errorCodes.NOT_BUILT,
      `The compiled file ${path} does not exist. Run "npm run build" first ("npm test" does it for you).`,
    );
  }
  return path;
}
