/**
 * Live updates: one long-poll loop over `_changes` per open app, telling subscribers the
 * schemas of the documents that changed, so a screen reloads only when something it
 * shows changed (a summary, a grouping count). A message that arrives is visible once
 * the queue writes its conversation summary. The loop starts once the first screen's
 * data is in (it would compete with it), from the `update_seq` of the app's first
 * documents read, so a change written while the screen loaded still arrives.
 */
import { CouchError, takeReadSeq, whenIdle, type Database } from './couch.js';
import { schemaOfId } from './ids.js';

export type ChangeListener = (schemas: ReadonlySet<string>, ids: readonly string[]) => void;

const retryMs = 3000;
/** The feed waits for the screen's own requests, at most this long: it starts where the
 * screen's first read left the database, so waiting loses no change. */
const startAfterScreenCapMs = 1000;

export class LiveFeed {
  private readonly listeners = new Set<ChangeListener>();
  private readonly stop = new AbortController();

  constructor(private readonly db: Database) {}

  start(): void {
    void this.loop();
  }

  close(): void {
    this.stop.abort();
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async loop(): Promise<void> {
    await whenIdle(startAfterScreenCapMs);
    let since: string | number | undefined = takeReadSeq();
    while (!this.stop.signal.aborted) {
      try {
        if (since === undefined) since = (await this.db.info()).update_seq;
        const { ids, last } = await this.db.changesSince(since, this.stop.signal);
        since = last;
        if (ids.length === 0) continue;
        const schemas = new Set(ids.flatMap((id) => schemaOfId(id) ?? []));
        for (const l of this.listeners) l(schemas, ids);
      } catch (err) {
        if (this.stop.signal.aborted || (err instanceof CouchError && err.status === 401)) return;
        await new Promise((r) => setTimeout(r, retryMs));
      }
    }
  }
}
