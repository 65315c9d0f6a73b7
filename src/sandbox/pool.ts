import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { RaindropError, docIdFor, errorCodes, sha256Hex, silentLogger, type JsonValue, type Logger, type RdKey } from '../core/index.js';
import { compiledEntry } from '../core/entry-points.js';
import { checkAttachment, checkOpen, checkQuery, filterQueryResult } from './capabilities.js';
import { checkDeclaration } from './declaration.js';
import { type KnownAnswers, knownAnswers, knownAtKeys, knownAttachments, knownBytes, readNeeds } from './known-answers.js';
import { type SandboxLimits, defaultSandboxLimits, poolProcessLimits } from './limits.js';
import type { FromChild, OpenNeeds, PoolTestHooks, ToChild } from './protocol.js';
import type { DocResult, Emitted, ExtensionDeclaration, ExtensionSource, HostServices, LoadedExtension, Retracted } from './types.js';

export interface SandboxPoolOptions {
  sources: readonly ExtensionSource[];
  /** Isolates (threads); default one per core. */
  size?: number;
  limits?: Partial<SandboxLimits>;
  logger?: Logger;
  testHooks?: PoolTestHooks;
}

export interface SandboxPool {
  /** Every source, with its declaration or what is wrong with it. */
  readonly extensions: readonly LoadedExtension[];
  /** Times the child process died and was restarted. */
  readonly restarts: number;
  /** Runs an extension's handler on documents; one result per document, in order.
   * \`preload\`: documents the handler will likely open, asked of \`services\` once up front
   * and answered inside the pool process (schemas outside its \`reads\` are left out). */
  run(extensionId: string, docs: readonly Record<string, unknown>[], services: HostServices, preload?: ReadonlyArray<{ key: RdKey; schemaId: string }>): Promise<DocResult[]>;
  /** Runs an extension's later_handler once with the values collected by rd.later. */
  runLater(extensionId: string, values: readonly JsonValue[], services: HostServices): Promise<DocResult>;
  close(): Promise<void>;
}

interface Job {
  jobId: number;
  codeHash: string;
  mode: 'run' | 'later';
  docs: string[];
  /** Ids of the documents given to this call: their attachments may be read. */
  givenIds: ReadonlySet<string>;
  services: HostServices;
  known?: KnownAnswers;
  /** Unknown opens fail and come back as `needs` (see run); cleared for a job retried
   * after a crash, which then runs as usual. */
  gather?: boolean;
  resolve: (results: unknown[], needs?: OpenNeeds) => void;
  reject: (error: Error) => void;
}

/**
 * Starts the isolate pool in a supervised child process. Bad extension files do not stop
 * the pool: they are listed with their problems and refused when asked to run.
 */
export async function startSandboxPool(options: SandboxPoolOptions): Promise<SandboxPool> {
  const logger = options.logger ?? silentLogger;
  const limits: SandboxLimits = { ...defaultSandboxLimits, ...options.limits };
  const size = Math.max(1, options.size ?? availableParallelism());
  const sources = options.sources.map((s) => ({ origin: s.origin, code: s.code, codeHash: sha256Hex(s.code) }));
  const jobs = new Map<number, Job>();
  const waiting: Job[] = [];
  let nextJobId = 1;
  let child: ChildProcess | undefined;
  let ready = false;
  let started = false;
  let closing = false;
  let restarts = 0;
  const crashTimes: number[] = [];
  let extensions: LoadedExtension[] = [];

  const send = (message: ToChild) => {
    // A child that just died may still be referenced; its exit handler deals with the work.
    if (child?.connected) child.send(message, (err) => err && logger.debug('message to the sandbox process lost', { error: err.message }));
  };

  const startChild = () =>
    new Promise<void>((resolve, reject) => {
      const proc = fork(compiledEntry('src/sandbox/pool-process.ts'), [], {
        execArgv: ['--no-node-snapshot'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child = proc;
      ready = false;
      // A child that cannot start is killed: connected by IPC, it would otherwise keep the
      // parent's event loop alive, and a command that already failed would never exit.
      const failStart = (error: RaindropError) => {
        reject(error);
        if (!started && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      };
      const timer = setTimeout(() => failStart(new RaindropError(errorCodes.SANDBOX_UNAVAILABLE, 'the sandbox process did not start in time')), poolProcessLimits.startTimeoutMs);
      proc.on('message', (message: FromChild) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          ready = true;
          started = true;
          extensions = describe(message.loads);
          resolve();
          pump();
        } else if (message.type === 'fatal') {
          clearTimeout(timer);
          if (!started) {
            failStart(new RaindropError(errorCodes.SANDBOX_UNAVAILABLE, `the sandbox failed: ${message.message}`));
          } else {
            // A job the child could not finish would never be answered, and the queue
            // waited on it forever. Ended like a crash: its documents are retried alone
            // and the one that fails again is the only one to fail.
            logger.error('the sandbox process failed a job; restarting it', { error: message.message });
            proc.kill('SIGKILL');
          }
        } else if (message.type === 'call') {
          void answer(message);
        } else if (message.type === 'done') {
          const job = jobs.get(message.jobId);
          jobs.delete(message.jobId);
          if (job && job === serial) serial = undefined;
          job?.resolve(message.results, message.needs);
          pump();
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (child === proc) child = undefined;
        if (closing) return;
        reject(new RaindropError(errorCodes.SANDBOX_UNAVAILABLE, `the sandbox process exited during start (${signal ?? code})`));
        // The first start reports to the caller; after that, a death is a crash to recover from.
        if (started) onCrash(signal ?? String(code));
      });
      proc.send({ type: 'init', sources, limits, size, testHooks: options.testHooks ?? {} } satisfies ToChild);
    });

  const describe = (loads: Extract<FromChild, { type: 'ready' }>['loads']): LoadedExtension[] => {
    const seen = new Map<string, string>();
    return loads.map((load, i) => {
      const origin = sources[i]?.origin ?? load.codeHash;
      if (load.error !== undefined || !load.raw) return { origin, codeHash: load.codeHash, problems: [load.error ?? 'the module did not load'] };
      const checked = checkDeclaration(load.raw);
      if (checked.declaration) {
        const other = seen.get(checked.declaration.id);
        if (other) return { origin, codeHash: load.codeHash, problems: [`id: "${checked.declaration.id}" is already used by ${other}; ids must be unique`] };
        seen.set(checked.declaration.id, origin);
      }
      return { origin, codeHash: load.codeHash, problems: checked.problems, ...(checked.declaration ? { declaration: checked.declaration } : {}) };
    });
  };

  /** Documents that were in flight when the child died, to be retried one at a time. */
  const suspects: Job[] = [];
  let serial: Job | undefined;

  /** A dead child takes its in-flight jobs with it. Their documents become suspects and
   * are retried one at a time with nothing else running, so the one that kills the
   * process again is known for certain and is the only one to fail. */
  const onCrash = (how: string) => {
    const now = Date.now();
    crashTimes.push(now);
    while (crashTimes.length > 0 && (crashTimes[0] as number) < now - poolProcessLimits.crashWindowMs) crashTimes.shift();
    const inFlight = [...jobs.values()];
    jobs.clear();
    ready = false;
    logger.warn('the sandbox process died; restarting it', { how, inFlight: inFlight.length });
    if (crashTimes.length > poolProcessLimits.crashBudget) {
      const error = new RaindropError(errorCodes.SANDBOX_UNAVAILABLE, `the sandbox process died ${crashTimes.length} times in a minute; giving up`);
      for (const job of [...inFlight, ...suspects.splice(0), ...waiting.splice(0)]) job.reject(error);
      return;
    }
    for (const job of inFlight) {
      // Retried documents run as usual: a split job's parts would lose their needs.
      job.gather = false;
      if (job === serial) {
        job.resolve([{ ok: false, kind: 'crash', message: `the sandbox process died (${how}) while running this document alone`, logs: [] }]);
      } else if (job.docs.length === 1 || job.mode === 'later') {
        suspects.push(job);
      } else {
        const parts = job.docs.map((doc) => new Promise<unknown[]>((resolve, reject) => suspects.push({ ...job, jobId: nextJobId++, docs: [doc], resolve, reject })));
        Promise.all(parts).then((r) => job.resolve(r.flat()), job.reject);
      }
    }
    serial = undefined;
    restarts++;
    startChild().catch((err: unknown) => logger.error('the sandbox process did not come back', { error: (err as Error).message }));
  };

  const sendJob = (job: Job) => {
    jobs.set(job.jobId, job);
    send({ type: 'job', jobId: job.jobId, codeHash: job.codeHash, mode: job.mode, docs: job.docs, ...(job.known ? { known: job.known } : {}), ...(job.gather ? { gather: true } : {}) });
  };

  /** Moves work to the child: suspects first and alone, then everything else. */
  const pump = () => {
    if (!ready || !child) return;
    if (serial || suspects.length > 0) {
      if (serial || jobs.size > 0) return;
      serial = suspects.shift() as Job;
      sendJob(serial);
      return;
    }
    // A bounded number of jobs in the child at once (limits.ts): sent all at once, a big
    // batch's every document and answer sat in both processes' memory together.
    while (waiting.length > 0 && jobs.size < size * poolProcessLimits.jobsInFlightPerIsolate) sendJob(waiting.shift() as Job);
  };

  const dispatch = (job: Job) => {
    waiting.push(job);
    pump();
  };

  const answer = async (call: Extract<FromChild, { type: 'call' }>) => {
    const job = jobs.get(call.jobId);
    try {
      if (!job) throw new Error('no such job');
      const declaration = extensions.find((e) => e.codeHash === job.codeHash)?.declaration;
      if (!declaration) throw new Error('the extension of this job is not loaded');
      const args = JSON.parse(call.argsJson) as Record<string, unknown> & Array<{ key: RdKey; schemaId: string }>;
      let value: string | Uint8Array | null;
      switch (call.op) {
        case 'open':
          if (!Array.isArray(args)) throw new Error('rd.open: malformed request');
          checkOpen(declaration, args);
          value = JSON.stringify(await job.services.open(args));
          break;
        case 'attachment':
          checkAttachment(declaration, job.givenIds, String(args.id));
          asksAttachments.add(job.codeHash);
          value = await job.services.attachment(String(args.id), String(args.name));
          break;
        case 'query': {
          const view = String(args.view);
          checkQuery(declaration, view);
          const result = await job.services.query(view, (args.params ?? {}) as Record<string, JsonValue>);
          value = JSON.stringify(filterQueryResult(declaration, view, result));
          break;
        }
        case 'myIdentities':
          asksIdentities.add(job.codeHash);
          value = JSON.stringify(await job.services.myIdentities());
          break;
        default:
          throw new Error(`unknown host operation "${call.op}"`);
      }
      send({ type: 'reply', callId: call.callId, ok: true, value });
    } catch (err) {
      send({ type: 'reply', callId: call.callId, ok: false, message: (err as Error).message });
    }
  };

  const submit = (codeHash: string, mode: Job['mode'], docs: string[], givenIds: ReadonlySet<string>, services: HostServices, known?: KnownAnswers, gather = false) =>
    new Promise<{ results: unknown[]; needs: OpenNeeds }>((resolve, reject) =>
      dispatch({ jobId: nextJobId++, codeHash, mode, docs, givenIds, services, ...(known ? { known } : {}), gather, resolve: (results, needs) => resolve({ results, needs: needs ?? [] }), reject }),
    );
  /** Extensions (by code hash) that called rd.myIdentities(): their jobs carry the answer. */
  const asksIdentities = new Set<string>();
  /** Extensions (by code hash) that called rd.attachment: their jobs carry the attachments
   * of their documents that the caller holds in memory (an extension that never reads
   * them is not sent the bytes). */
  const asksAttachments = new Set<string>();

  const find = (extensionId: string) => {
    const ext = extensions.find((e) => e.declaration?.id === extensionId);
    if (!ext) {
      const broken = extensions.find((e) => e.origin.includes(extensionId));
      throw new RaindropError(
        errorCodes.EXTENSION_INVALID,
        broken ? `extension ${broken.origin} cannot run: ${broken.problems.join('; ')}` : `no extension "${extensionId}" is loaded`,
      );
    }
    return ext as LoadedExtension & { declaration: ExtensionDeclaration };
  };

  await startChild();

  return {
    get extensions() {
      return extensions;
    },
    get restarts() {
      return restarts;
    },
    async run(extensionId, docs, services, preload = []) {
      const ext = find(extensionId);
      if (docs.length === 0) return [];
      const known = await knownAnswers(ext.declaration, services, preload, asksIdentities.has(ext.codeHash));
      const texts = docs.map((d) => JSON.stringify(d));
      const givenIds = new Set(docs.flatMap((d) => (typeof d._id === 'string' ? [d._id] : [])));
      const shared = known !== undefined && knownBytes(known) <= poolProcessLimits.sharedAnswersMaxBytes;
      const raws: unknown[] = new Array(docs.length);
      /** Answers read for documents' needs (gathered opens), by document index. */
      const gathered = new Map<number, Record<string, string>>();
      let todo = docs.map((_, i) => i);
      for (let round = 0; todo.length > 0; round++) {
        const gather = round < poolProcessLimits.gatherRounds;
        // Spread the documents over every isolate, but not in slivers smaller than is worth a call.
        const per = Math.max(1, Math.min(limits.docsPerCall, Math.ceil(todo.length / size)));
        const chunks: number[][] = [];
        for (let i = 0; i < todo.length; i += per) chunks.push(todo.slice(i, i + per));
        const done = await Promise.all(chunks.map((indices) => {
          // Past a size (limits.ts), each job carries the answers at its own documents' keys
          // only: with the whole batch's answers in every job, a batch of n documents sent
          // n/per copies of them (quadratic). An open of another document's key then goes to
          // this process, which gives the same answer.
          const base = known && (shared ? known : knownAtKeys(known, preload, indices.map((k) => docs[k]?.rd_key)));
          const extra = indices.flatMap((k) => Object.entries(gathered.get(k) ?? {}));
          const withGathered = extra.length === 0 ? base : { ...(base ?? { open: {} }), open: { ...(base?.open ?? {}), ...Object.fromEntries(extra) } };
          const attachments = asksAttachments.has(ext.codeHash) ? knownAttachments(services, indices.map((k) => docs[k])) : undefined;
          const partKnown = attachments ? { ...(withGathered ?? { open: {} }), attachments } : withGathered;
          return submit(ext.codeHash, 'run', indices.map((k) => texts[k] as string), givenIds, services, partKnown, gather);
        }));
        const needs = new Map<number, unknown[]>();
        done.forEach(({ results, needs: partNeeds }, p) => {
          const indices = chunks[p] as number[];
          results.forEach((raw, k) => (raws[indices[k] as number] = raw));
          for (const [k, requests] of partNeeds) if (indices[k] !== undefined) needs.set(indices[k] as number, requests);
        });
        if (needs.size === 0) break;
        await readNeeds(ext.declaration, services, needs, gathered);
        todo = [...needs.keys()].sort((a, b) => a - b);
      }
      return raws.map((raw) => toDocResult(raw, ext.declaration));
    },
    async runLater(extensionId, values, services) {
      const ext = find(extensionId);
      if (!ext.declaration.has_later_handler) {
        throw new RaindropError(errorCodes.EXTENSION_INVALID, `extension "${extensionId}" has no later_handler`);
      }
      const [result] = (await submit(ext.codeHash, 'later', [JSON.stringify(values)], new Set(), services)).results;
      return toDocResult(result, ext.declaration);
    },
    async close() {
      if (closing) return;
      closing = true;
      const proc = child;
      if (!proc) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.send({ type: 'stop' } satisfies ToChild);
      const timer = setTimeout(() => proc.kill('SIGKILL'), poolProcessLimits.stopTimeoutMs);
      await exited;
      clearTimeout(timer);
      const error = new RaindropError(errorCodes.ABORTED, 'the sandbox pool was closed');
      for (const job of [...jobs.values(), ...suspects.splice(0), ...waiting.splice(0)]) job.reject(error);
      jobs.clear();
    },
  };
}

interface RawResult {
  ok: boolean;
  kind?: string;
  message?: string;
  emits?: Array<Omit<Emitted, 'attachments'> & { attachments?: Record<string, { content_type: string; base64?: string; text?: string }> }>;
  retracts?: Retracted[];
  later?: JsonValue[];
  logs?: DocResult['logs'];
}

/**
 * A document's result: the JSON text the isolate wrote, or an object the pool process
 * made (failures). The bootstrap refuses undeclared schemas, but it shares its context
 * with the extension, which can replace the builtins it serialises with (JSON.stringify,
 * Object.prototype.toJSON) and so forge its whole output; only checks made out here are
 * authoritative, so every emitted item's schema and id are checked again.
 */
function toDocResult(raw: unknown, declaration: ExtensionDeclaration): DocResult {
  const forged = (why: string): DocResult => ({ ok: false, kind: 'capability', message: `the extension's output was refused: ${why}`, logs: [] });
  let r: RawResult;
  try {
    r = (typeof raw === 'string' ? JSON.parse(raw) : raw) as RawResult;
  } catch {
    return forged('it is not JSON');
  }
  if (r === null || typeof r !== 'object') return forged('it is not a result object');
  const logs = Array.isArray(r.logs) ? r.logs : [];
  if (r.ok === true) {
    const problem = checkEmits(r.emits ?? [], declaration) ?? checkRetracts(r.retracts ?? [], r.emits ?? [], declaration);
    if (problem) return forged(problem);
  }
  if (!r.ok) return { ok: false, kind: (r.kind ?? 'exception') as Extract<DocResult, { ok: false }>['kind'], message: r.message ?? 'unknown failure', logs };
  const emits: Emitted[] = (r.emits ?? []).map((e) => {
    const { attachments, ...rest } = e;
    if (!attachments) return rest;
    const converted: NonNullable<Emitted['attachments']> = {};
    for (const [name, att] of Object.entries(attachments)) {
      converted[name] = { contentType: att.content_type, data: att.base64 !== undefined ? Buffer.from(att.base64, 'base64') : Buffer.from(att.text ?? '', 'utf8') };
    }
    return { ...rest, attachments: converted };
  });
  const retracts = (r.retracts ?? []).map(({ id, key, schemaId }) => ({ id, key, schemaId }));
  return { ok: true, emits, ...(retracts.length > 0 ? { retracts } : {}), later: r.later ?? [], logs };
}

/** What is wrong with emitted items that the bootstrap would never have produced. */
function checkEmits(emits: unknown, declaration: ExtensionDeclaration): string | undefined {
  if (!Array.isArray(emits)) return 'emits is not a list';
  for (const item of emits as Array<Partial<Emitted> | null>) {
    if (item === null || typeof item !== 'object') return 'an emitted item is not an object';
    const { schemaId, key, id, fields } = item;
    if (typeof schemaId !== 'string' || !declaration.emits.includes(schemaId)) return `schema ${JSON.stringify(schemaId)} is not in "emits"`;
    let expected: string;
    try {
      expected = docIdFor(key as RdKey, schemaId);
    } catch (err) {
      return (err as Error).message;
    }
    if (id !== expected) return `id ${JSON.stringify(id)} is not the id of its key and schema (${expected})`;
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return 'fields is not a plain object';
  }
  return undefined;
}

/** Retractions the bootstrap would never have produced: a schema not in "emits", an id
 * not of its key, or a document the same call also emits (which would it be?). */
function checkRetracts(retracts: unknown, emits: ReadonlyArray<{ id?: unknown }>, declaration: ExtensionDeclaration): string | undefined {
  if (!Array.isArray(retracts)) return 'retracts is not a list';
  const emitted = new Set(emits.map((e) => e.id));
  for (const item of retracts as Array<Partial<Retracted> | null>) {
    if (item === null || typeof item !== 'object') return 'a retracted item is not an object';
    const { schemaId, key, id } = item;
    if (typeof schemaId !== 'string' || !declaration.emits.includes(schemaId)) return `retracted schema ${JSON.stringify(schemaId)} is not in "emits"`;
    let expected: string;
    try {
      expected = docIdFor(key as RdKey, schemaId);
    } catch (err) {
      return (err as Error).message;
    }
    if (id !== expected) return `retracted id ${JSON.stringify(id)} is not the id of its key and schema (${expected})`;
    if (emitted.has(id)) return `${id} is both emitted and retracted in one run`;
  }
  return undefined;
}
