import type { Db } from './connect.js';
import { callCouch } from './connect.js';
import type { Seq } from './changes-follower.js';
import { fetchJson } from './fetch-json.js';

/** Beyond this many, lag is reported as "at least": counting is for a status line. */
const countCap = 10_000;

/**
 * How many changes follow a checkpoint. CouchDB answers `pending` directly; the embedded
 * server does not, so the rows are counted (ids only, capped). Seq stays opaque: it is
 * only handed back as `since`.
 */
export async function changesPending(db: Db, since: Seq | undefined, ignore: (id: string) => boolean = () => false): Promise<{ count: number; atLeast: boolean }> {
  const qs = { limit: countCap, ...(since === undefined ? {} : { since: typeof since === 'string' ? since : String(since) }) };
  const body = (await callCouch(db.couch, `measuring the lag of "${db.name}"`, () =>
    fetchJson(db.couch, { path: `${encodeURIComponent(db.name)}/_changes`, qs }),
  )) as { results: Array<{ id?: unknown }>; pending?: number };
  // The caller's own bookkeeping (checkpoints written after the last batch) is not work.
  const counted = body.results.filter((r) => typeof r.id !== 'string' || !ignore(r.id)).length;
  const count = counted + (typeof body.pending === 'number' ? body.pending : 0);
  return { count, atLeast: typeof body.pending !== 'number' && body.results.length >= countCap };
}
