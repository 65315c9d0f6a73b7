import { RaindropError, errorCodes } from '../core/index.js';
import type { ExtensionDeclaration } from '../sandbox/types.js';

export interface QueueExtension {
  declaration: ExtensionDeclaration;
  codeHash: string;
  code: string;
}

/**
 * The extensions the queue runs, in dependency order: an extension comes after every
 * extension that emits one of its source schemas. The graph is known from the
 * declarations, so a cycle is refused at load time with the cycle in the message.
 */
export function orderExtensions(extensions: readonly QueueExtension[]): QueueExtension[] {
  const byId = new Map(extensions.map((e) => [e.declaration.id, e]));
  const upstream = new Map<string, string[]>();
  for (const ext of extensions) {
    upstream.set(
      ext.declaration.id,
      extensions.filter((other) => other.declaration.emits.some((s) => ext.declaration.source_schemas.includes(s))).map((o) => o.declaration.id),
    );
  }
  topologicalOrder(byId, upstream); // refuses a cycle of source schemas
  // Reads are a softer order: an extension that opens what another emits (a summary
  // reading tags) runs after it where that makes no cycle, so it sees this batch's
  // outputs instead of being re-triggered by them in the next batch.
  for (const ext of [...extensions].sort((a, b) => (a.declaration.id < b.declaration.id ? -1 : 1))) {
    for (const other of extensions) {
      if (other === ext || !other.declaration.emits.some((s) => (ext.declaration.reads ?? []).includes(s))) continue;
      const before = upstream.get(ext.declaration.id) ?? [];
      if (before.includes(other.declaration.id)) continue;
      upstream.set(ext.declaration.id, [...before, other.declaration.id]);
      try {
        topologicalOrder(byId, upstream);
      } catch {
        upstream.set(ext.declaration.id, before);
      }
    }
  }
  return topologicalOrder(byId, upstream);
}

function topologicalOrder(byId: ReadonlyMap<string, QueueExtension>, upstream: ReadonlyMap<string, string[]>): QueueExtension[] {
  const order: QueueExtension[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]) => {
    const seen = state.get(id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.indexOf(id)), id];
      throw new RaindropError(
        errorCodes.EXTENSION_INVALID,
        `extensions form a cycle: ${cycle.join(' -> ')} (each emits a schema the next one reads); break it by changing "emits" or "source_schemas"`,
        { details: { cycle } },
      );
    }
    state.set(id, 'visiting');
    for (const up of (upstream.get(id) ?? []).sort()) visit(up, [...path, id]);
    state.set(id, 'done');
    order.push(byId.get(id) as QueueExtension);
  };
  for (const id of [...byId.keys()].sort()) visit(id, []);
  return order;
}

/** Extensions whose source schemas include `schemaId`, in dependency order. */
export function consumersOf(ordered: readonly QueueExtension[], schemaId: string): QueueExtension[] {
  return ordered.filter((e) => e.declaration.source_schemas.includes(schemaId));
}

/**
 * The cascade's steps: `ordered` cut into groups of extensions that may run at the same
 * time. Two extensions are related when one emits a schema the other takes, reads or
 * also emits; a related pair never shares a step and keeps the order `ordered` gives it,
 * so each extension still sees everything it saw when they ran one after another, and
 * nothing of what an unrelated one writes could change what it reads. Within a step the
 * order is `ordered`'s.
 */
export function cascadeSteps(ordered: readonly QueueExtension[]): QueueExtension[][] {
  const touches = ordered.map((e) => new Set([...e.declaration.source_schemas, ...(e.declaration.reads ?? []), ...e.declaration.emits]));
  const related = (i: number, j: number) =>
    (ordered[i] as QueueExtension).declaration.emits.some((s) => touches[j]?.has(s)) || (ordered[j] as QueueExtension).declaration.emits.some((s) => touches[i]?.has(s));
  const level: number[] = [];
  ordered.forEach((_, i) => {
    let l = 0;
    for (let j = 0; j < i; j++) if (related(j, i)) l = Math.max(l, (level[j] as number) + 1);
    level.push(l);
  });
  const steps: QueueExtension[][] = [];
  ordered.forEach((ext, i) => (steps[level[i] as number] ??= []).push(ext));
  return steps;
}
