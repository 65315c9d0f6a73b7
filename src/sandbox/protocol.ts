/** Messages between the pool (parent) and its child process. */
import type { RawDeclaration } from './declaration.js';
import type { KnownAnswers } from './known-answers.js';
import type { SandboxLimits } from './limits.js';

export interface PoolTestHooks {
  /** Test-only fault injection: the child kills itself (SIGKILL) when a document's JSON
   * contains this string, standing in for the rare isolated-vm faults that take the whole
   * process down and that no extension triggers on demand. */
  crashMarker?: string;
  /** Test-only: the child's job fails (as when a replacement isolate cannot be made)
   * when a document's JSON contains this string. */
  failJobMarker?: string;
}

/** Document index in a job, and the `rd.open` requests it made that were not known. */
export type OpenNeeds = Array<[number, unknown[]]>;

export type ToChild =
  | { type: 'init'; sources: Array<{ origin: string; code: string; codeHash: string }>; limits: SandboxLimits; size: number; testHooks: PoolTestHooks }
  /** `gather`: an `rd.open` not answered by `known` fails at once instead of asking the
   * parent, and the document's requests come back as its `needs` (see pool.ts, run). */
  | { type: 'job'; jobId: number; codeHash: string; mode: 'run' | 'later'; docs: string[]; known?: KnownAnswers; gather?: boolean }
  | { type: 'reply'; callId: number; ok: true; value: string | Uint8Array | null }
  | { type: 'reply'; callId: number; ok: false; message: string }
  | { type: 'stop' };

export type FromChild =
  | { type: 'ready'; loads: Array<{ codeHash: string; raw?: RawDeclaration; error?: string }> }
  | { type: 'call'; jobId: number; callId: number; op: string; argsJson: string }
  /** `needs`: in a `gather` job, by document index, what its `rd.open` calls asked that
   * was not known; those documents' results are to be thrown away. */
  | { type: 'done'; jobId: number; results: unknown[]; needs?: OpenNeeds }
  | { type: 'fatal'; message: string };
