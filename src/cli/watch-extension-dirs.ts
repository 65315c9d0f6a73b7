import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '../core/index.js';
import { cliLimits } from './limits.js';

export interface DirWatch {
  close(): void;
}

/**
 * Calls `onChange` after files in these directories change (Node's fs.watch: inotify on
 * Linux). Editors write a file in several steps (temp file, rename, chmod), so events are
 * gathered for a short pause and handled once; runs never overlap, and a change during a
 * run causes one more run. Only `.js` and `.json` files count.
 */
export function watchExtensionDirs(dirs: readonly string[], onChange: () => Promise<void>, logger: Logger): DirWatch {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  const run = () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = onChange()
      .catch((err: unknown) => logger.error('re-installing your extensions failed', { error: (err as Error).message }))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  for (const dir of dirs) {
    try {
      const watcher = watch(dir, (_event, name) => {
        if (name && !/\.(js|json)$/.test(String(name))) return;
        clearTimeout(timer);
        timer = setTimeout(run, cliLimits.extensionEditSettleMs);
      });
      watcher.on('error', (err) => logger.warn(`stopped watching ${dir}`, { error: err.message }));
      watchers.push(watcher);
    } catch (err) {
      logger.warn(`cannot watch ${dir} for edits; run "raindrop init" after editing`, { error: (err as Error).message });
    }
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
