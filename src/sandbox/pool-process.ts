/**
 * The child process that owns the isolates. It exists so that a fault inside
 * isolated-vm that kills the process (its documentation warns that some allocation
 * patterns do) takes down only this child: the parent restarts it and retries.
 */
import type { FailureKind } from './types.js';
import type { CallAnswers } from './isolate-bootstrap.js';
import { IsolateWorker, type WorkerSource } from './isolate-worker.js';
import { type KnownAnswers, answerKnownAttachment } from './known-answers.js';
import { loadIsolatedVm } from './isolated-vm.js';
import type { Ivm } from './ivm-types.js';
import { type SandboxLimits, poolProcessLimits } from './limits.js';
import type { FromChild, OpenNeeds, PoolTestHooks, ToChild } from './protocol.js';
import { runStd } from './mime.js';

interface Slot {
  worker: IsolateWorker;
  jobId: number;
  /** What the current job's caller answered ahead (known-answers.ts). */
  known?: KnownAnswers | undefined;
  busy: boolean;
  /** In a `gather` job: what each document of the isolate call under way asked of
   * `rd.open` that `known` could not answer, by its position in that call. */
  misses?: Map<number, Missed> | undefined;
}

/** A document's recorded opens in a gathering round, and their arguments' characters.
 * A document that missed an open is in the round's needs even when nothing of it was
 * recorded: its run is not kept, and it runs again. */
interface Missed {
  requests: unknown[];
  chars: number;
}

let ivm: Ivm;
let limits: SandboxLimits;
let hooks: PoolTestHooks = {};
let goodSources: WorkerSource[] = [];
const slots: Slot[] = [];
const queue: Array<Extract<ToChild, { type: 'job' }>> = [];
const pendingCalls = new Map<number, { resolve: (v: string | ArrayBuffer | null) => void; reject: (e: Error) => void }>();
let nextCallId = 1;
/** Set by the parent's "stop": the disconnect that follows is the planned one. */
let stopping = false;

const send = (message: FromChild) => process.send?.(message);

function hostCallFor(slot: () => Slot) {
  return (op: string, argsJson: string | Uint8Array) => {
    // Known opens and identities are answered inside the isolate (isolate-bootstrap.ts);
    // what reaches here was not known, or is an attachment.
    const bytes = op === 'attachment' && typeof argsJson === 'string' ? answerKnownAttachment(slot().known, argsJson) : undefined;
    if (bytes !== undefined) return Promise.resolve(intoIsolate(bytes));
    const { misses, worker } = slot();
    if (misses && op === 'open' && typeof argsJson === 'string') return Promise.reject(missed(misses, worker.currentDoc, argsJson));
    return hostCall(slot, op, argsJson);
  };
}

/** Bytes as the isolate receives them: an ArrayBuffer copied in, not shared. */
function intoIsolate(value: Uint8Array): ArrayBuffer {
  const copy = new ivm.ExternalCopy(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  return copy.copyInto({ release: true }) as ArrayBuffer;
}

/** Records an `rd.open` a gathering job does not answer, and fails it: the document runs
 * again once the parent has read what it asked, with the others' in one request. */
function missed(misses: Map<number, Missed>, position: number, argsJson: string): Error {
  const recorded = misses.get(position) ?? { requests: [], chars: 0 };
  misses.set(position, recorded);
  const error = new Error('rd.open was not answered in this round; the document runs again with it');
  if (recorded.chars + argsJson.length > poolProcessLimits.gatheredCharsPerDoc) return error;
  recorded.chars += argsJson.length;
  let requests: unknown;
  try {
    requests = JSON.parse(argsJson);
  } catch {
    requests = [];
  }
  if (Array.isArray(requests)) recorded.requests.push(...requests.slice(0, poolProcessLimits.gatheredRequestsPerDoc - recorded.requests.length));
  return error;
}

function hostCall(slot: () => Slot, op: string, argsJson: string | Uint8Array) {
  return (
    // rd.std helpers (MIME parsing, HTML to text, sanitizing) are answered here, in the
    // pool process: they need npm modules the isolate cannot load, and no database.
    op.startsWith('std.') ? runStd(op, argsJson) : new Promise<string | ArrayBuffer | null>((resolve, reject) => {
      const callId = nextCallId++;
      pendingCalls.set(callId, { resolve, reject });
      send({ type: 'call', jobId: slot().jobId, callId, op, argsJson: String(argsJson) });
    }).then((value) => (value instanceof Uint8Array ? intoIsolate(value) : value))
  );
}

/** Another isolate with every extension the first one loaded. Each load is checked: a
 * load that failed here (its bootstrap has a short time limit, which a busy machine can
 * pass) left an isolate without that extension, and every job sent to it failed. Tried
 * twice, then it throws: the caller's job fails and the parent restarts this process. */
async function newWorker(slot: () => Slot): Promise<IsolateWorker> {
  let problem = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    const worker = IsolateWorker.create(ivm, limits, hostCallFor(slot));
    problem = '';
    for (const source of goodSources) {
      const report = await worker.load(source);
      if (report.error !== undefined || worker.disposed) {
        problem = `${source.origin}: ${report.error ?? 'the isolate was disposed while loading it'}`;
        break;
      }
    }
    if (!problem) return worker;
    worker.dispose();
  }
  throw new Error(`an extension that loaded in the first isolate did not load in another (${problem})`);
}

async function init(message: Extract<ToChild, { type: 'init' }>): Promise<void> {
  ivm = loadIsolatedVm();
  limits = message.limits;
  hooks = message.testHooks;
  const loads: Array<{ codeHash: string; raw?: NonNullable<Awaited<ReturnType<IsolateWorker['load']>>['raw']>; error?: string }> = [];
  // The first isolate compiles every module and produces the code cache the others use.
  const slot0 = { jobId: 0, busy: false } as Slot;
  let first = IsolateWorker.create(ivm, limits, hostCallFor(() => slot0));
  for (const source of message.sources) {
    const report = await first.load(source);
    loads.push({ codeHash: report.codeHash, ...(report.raw ? { raw: report.raw } : {}), ...(report.error ? { error: report.error } : {}) });
    if (first.disposed) {
      // A module that exhausts the isolate while loading is refused; start over without it.
      first = IsolateWorker.create(ivm, limits, hostCallFor(() => slot0));
      for (const good of goodSources) await first.load(good);
    } else if (!report.error) {
      goodSources.push({ ...source, ...(report.cachedData ? { cachedData: report.cachedData } : {}) });
    }
  }
  slot0.worker = first;
  slots.push(slot0);
  for (let i = 1; i < message.size; i++) {
    const slot = { jobId: 0, busy: false } as Slot;
    slot.worker = await newWorker(() => slot);
    slots.push(slot);
  }
  send({ type: 'ready', loads });
}

function pump(): void {
  for (const slot of slots) {
    if (slot.busy) continue;
    const job = queue.shift();
    if (!job) return;
    slot.busy = true;
    slot.jobId = job.jobId;
    slot.known = job.known;
    runJob(slot, job)
      .then(({ results, needs }) => send({ type: 'done', jobId: job.jobId, results, ...(needs.length > 0 ? { needs } : {}) }))
      .catch((err: unknown) => send({ type: 'fatal', message: `job ${job.jobId}: ${(err as Error).message}` }))
      .finally(() => {
        slot.busy = false;
        pump();
      });
  }
}

/** Runs every document of a job; a document that breaks the isolate gets a failure and
 * the isolate is replaced; the others are run again without it. */
async function runJob(slot: Slot, job: Extract<ToChild, { type: 'job' }>): Promise<{ results: unknown[]; needs: OpenNeeds }> {
  if (hooks.crashMarker && job.docs.some((d) => d.includes(hooks.crashMarker as string))) {
    process.kill(process.pid, 'SIGKILL');
  }
  if (hooks.failJobMarker && job.docs.some((d) => d.includes(hooks.failJobMarker as string))) throw new Error('test: the job failed in the sandbox process');
  const results: unknown[] = new Array(job.docs.length);
  const needs = new Map<number, unknown[]>();
  let pending = job.docs.map((_, i) => i);
  while (pending.length > 0) {
    if (slot.worker.disposed) slot.worker = await newWorker(() => slot);
    const payload = job.mode === 'later' ? (job.docs[0] as string) : `[${pending.map((i) => job.docs[i]).join(',')}]`;
    const gathering = job.gather === true && job.mode === 'run';
    slot.misses = gathering ? new Map() : undefined;
    const outcome = job.mode === 'later' ? await slot.worker.runLater(job.codeHash, payload) : await slot.worker.run(job.codeHash, payload, pending.length, answersForIsolate(slot.known));
    for (const [position, { requests }] of slot.misses ?? []) {
      const docIndex = pending[position];
      if (docIndex !== undefined) needs.set(docIndex, requests);
    }
    slot.misses = undefined;
    if (outcome.ok) {
      // Texts go to the parent as they are; parsing and re-serialising them here cost this
      // thread more than the texts cost the IPC channel (bench/sandbox.bench.ts).
      const texts = job.mode === 'later' ? [outcome.results] : outcome.results;
      const wellFormed = Array.isArray(texts) && texts.length === pending.length && texts.every((t) => typeof t === 'string');
      pending.forEach((docIndex, k) => (results[docIndex] = wellFormed ? texts[k] : failure('capability', 'the sandbox returned malformed results: the extension tampered with the builtins the sandbox relies on')));
      break;
    }
    const culprit = pending[outcome.index] ?? pending[0] as number;
    results[culprit] = failure(outcome.kind, outcome.message);
    pending = pending.filter((i) => i !== culprit);
  }
  return { results, needs: [...needs] };
}

/** The answers the isolate gives itself: the job's known opens and identities (never its
 * attachments, which are copied in only when read). */
function answersForIsolate(known: KnownAnswers | undefined): CallAnswers | undefined {
  if (!known) return undefined;
  return { open: known.open, ...(known.identities !== undefined ? { identities: known.identities } : {}) };
}

const failure = (kind: FailureKind, message: string) => ({ ok: false, kind, message, logs: [] });

process.on('message', (message: ToChild) => {
  switch (message.type) {
    case 'init':
      init(message).catch((err: unknown) => {
        send({ type: 'fatal', message: (err as Error).message });
        process.exitCode = 1;
      });
      break;
    case 'job':
      queue.push(message);
      pump();
      break;
    case 'reply': {
      const call = pendingCalls.get(message.callId);
      pendingCalls.delete(message.callId);
      if (!call) break;
      if (message.ok) call.resolve(message.value as string | ArrayBuffer | null);
      else call.reject(new Error(message.message));
      break;
    }
    case 'stop':
      stopping = true;
      for (const slot of slots) slot.worker.dispose();
      // Not synchronously: a 'stop' that arrived before this listener was attached is
      // replayed by Node from a loop that touches the channel after each message, and
      // disconnecting inside it crashed the process (Node 20: "Cannot set properties of
      // null (setting 'Symbol(kPendingMessages)')").
      setImmediate(() => process.disconnect?.());
      break;
  }
});
// The parent going away (crash, SIGKILL) closes the channel: nothing left to work for.
// Not process.exit: an isolate thread blocked in a host call whose answer can no longer
// come made exit() wait forever (seen: an orphan left sleeping in a futex, holding the
// dead parent's stdout and stderr open). Nothing here needs a clean exit.
process.on('disconnect', () => {
  if (stopping) process.exit(0);
  else process.kill(process.pid, 'SIGKILL');
});
