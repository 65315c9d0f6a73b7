import { createHash } from 'node:crypto';

/** The weight of a (worker, name) pair: 48 bits of SHA-256, exact in a double. */
function weight(worker: string, name: string): number {
  return createHash('sha256').update(`${worker}\u0000${name}`, 'utf8').digest().readUIntBE(0, 6);
}

/**
 * Rendezvous (highest-random-weight) choice: the worker with the highest weight for this
 * name owns it. When a worker joins or leaves, only the names it wins or held move; every
 * worker computes the same answer from the same list without talking to the others.
 * Ties (practically never) go to the smaller worker id. Undefined when the list is empty.
 */
export function rendezvousOwner(name: string, workers: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const worker of workers) {
    const w = weight(worker, name);
    if (w > bestWeight || (w === bestWeight && best !== undefined && worker < best)) {
      best = worker;
      bestWeight = w;
    }
  }
  return best;
}

/** The names of `names` that `me` owns among `workers`. */
export function ownedBy(me: string, names: readonly string[], workers: readonly string[]): string[] {
  return names.filter((n) => rendezvousOwner(n, workers) === me);
}
