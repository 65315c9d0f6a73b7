import type { QueueExtension } from '../queue/extension-set.js';

/**
 * Splits the extensions (in dependency order) into the two kinds of work of a cluster:
 *
 * - `partitioned`: extensions that turn one item into documents of that same item
 *   (email, body, quoted text, links, attachments). Their work divides by key: each
 *   partition's owner runs them on its own keys, in parallel with the others.
 * - `aggregate`: extensions that read and update documents shared by many keys
 *   (a `later_handler`: thread index, identities and contacts, groupings, mailing
 *   lists; or declared dependencies: conversations, outgoing), and everything downstream
 *   of them or reading what they write. Their updates are read-modify-write (a count read,
 *   incremented, written back): two owners of different partitions updating one contact
 *   at once would lose an increment when the 409 re-merge replays a stale count. So they
 *   run on one worker at a time (the `queue:aggregates` lease), over the whole feed,
 *   exactly as the single-process queue runs them: counts stay exact by construction.
 */
export function splitExtensions(ordered: readonly QueueExtension[]): { partitioned: QueueExtension[]; aggregate: QueueExtension[] } {
  const aggregate = new Set<string>();
  const emittedByAggregate = new Set<string>();
  // To a fixed point: a reader may come before the writer it reads in dependency order.
  for (let changed = true; changed; ) {
    changed = false;
    for (const ext of ordered) {
      const d = ext.declaration;
      if (aggregate.has(d.id)) continue;
      const crossKey = d.has_later_handler || d.uses_dependencies;
      const downstream = d.source_schemas.some((s) => emittedByAggregate.has(s)) || d.reads.some((s) => emittedByAggregate.has(s));
      if (crossKey || downstream) {
        aggregate.add(d.id);
        for (const s of d.emits) emittedByAggregate.add(s);
        changed = true;
      }
    }
  }
  return { partitioned: ordered.filter((e) => !aggregate.has(e.declaration.id)), aggregate: ordered.filter((e) => aggregate.has(e.declaration.id)) };
}

/** The extensions this unit runs now (`now`) whose code differs from what was installed
 * when it last committed (`before`: every extension, of both kinds of work, so one that an
 * edit moved between kinds counts), added to those still waiting for their stale outputs
 * to be removed. A new extension (no old code) has none; a disabled one keeps what it
 * made, as in the single queue. */
export function editedExtensions(before: Readonly<Record<string, string>>, now: Readonly<Record<string, string>>, pending: readonly string[]): string[] {
  const edited = Object.keys(now).filter((id) => before[id] !== undefined && before[id] !== now[id]);
  return [...new Set([...pending, ...edited])].sort();
}
