import { inject } from 'vitest';

/**
 * The suite runs twice in CI: on the embedded server and on a real CouchDB 3.x. A test
 * that only makes sense on one of them says so by name (the returned label goes into the
 * test or suite name) and, on the other, is skipped with its reason printed once per
 * file, so a skipped test is never silent.
 *
 *   const only = onlyOn('embedded', 'the auth gate is Raindrop code; CouchDB has its own');
 *   describe.skipIf(only.skip)(`the auth gate ${only.label}`, () => { ... });
 */
export type ServerKind = 'embedded' | 'couchdb';

export interface OnlyOn {
  /** True when the run's server is not the one the test is for. */
  skip: boolean;
  /** "[embedded server only]" or "[CouchDB only]", for the test's name. */
  label: string;
}

export function runServerKind(): ServerKind {
  return inject('couch').embedded ? 'embedded' : 'couchdb';
}

export function onlyOn(kind: ServerKind, reason: string): OnlyOn {
  const label = kind === 'embedded' ? '[embedded server only]' : '[CouchDB only]';
  const skip = runServerKind() !== kind;
  if (skip) {
    const running = kind === 'embedded' ? 'a real CouchDB' : 'the embedded server';
    console.info(`skipped on ${running}: tests marked ${label}, because ${reason}`);
  }
  return { skip, label };
}
