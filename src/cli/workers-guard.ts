import { RaindropError, errorCodes } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import { liveWorkers } from '../cluster/cluster-status.js';

/**
 * The single-process queue (`process`, `serve`) and workers must not run on one database
 * at once: both would follow the whole feed, and the cross-key extensions' read-modify-
 * write counts (contacts, groupings) would count messages twice. Refuses while a worker's
 * heartbeat is recent; a worker killed without leaving stops counting after 10 s.
 */
export async function refuseWhileWorkersRun(db: Db, instead: string): Promise<void> {
  const live = await liveWorkers(db);
  if (live.length === 0) return;
  const names = live.slice(0, 3).map((w) => `${w.worker} on ${w.host}`).join(', ');
  throw new RaindropError(
    errorCodes.WORKERS_RUNNING,
    `${live.length} worker(s) are processing ${db.name} (${names}${live.length > 3 ? ', ...' : ''}; "raindrop status" lists them). This command's own queue would do their work a second time and count messages twice. ${instead}`,
  );
}
