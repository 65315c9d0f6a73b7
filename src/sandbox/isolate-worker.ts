import { createHash } from 'node:crypto';
import iconv from 'iconv-lite';
import type { RawDeclaration } from './declaration.js';
import { type CallAnswers, bootstrapSource } from './isolate-bootstrap.js';
import type { Ivm, IvmContext, IvmExternalCopy, IvmIsolate, IvmReference } from './ivm-types.js';
import type { SandboxLimits } from './limits.js';
import type { FailureKind } from './types.js';

/** An extension's code as the worker loads it; `cachedData` is shared by every isolate
 * so each compiles the module once per pool, not once per isolate. */
export interface WorkerSource {
  origin: string;
  code: string;
  codeHash: string;
  cachedData?: IvmExternalCopy<ArrayBuffer>;
}

export interface LoadReport {
  codeHash: string;
  raw?: RawDeclaration;
  /** Set when the module failed to compile or evaluate. */
  error?: string;
  cachedData?: IvmExternalCopy<ArrayBuffer>;
}

/** An operation of the isolate answered on the host: `open`, `attachment`, `query`,
 * `myIdentities` (JSON text argument, answered by the pool's caller) or `std.*` (answered
 * in the pool process, see mime.ts; `std.parseMime` takes bytes). */
export type HostCall = (op: string, arg: string | Uint8Array) => Promise<string | ArrayBuffer | null>;

export type RunOutcome =
  /** One JSON text per document (run) or one for the call (runLater), unparsed: the pool's
   * caller parses each once. An extension that tampers with the bootstrap's builtins can
   * make this anything, so the pool process checks its shape. */
  | { ok: true; results: unknown }
  /** The document at `index` broke the isolate (it is disposed) or was stopped. */
  | { ok: false; index: number; kind: FailureKind; message: string };

interface ContextApi {
  context: IvmContext;
  run: IvmReference;
  runLater: IvmReference;
}

/**
 * One isolate holding every extension, each in its own context so that one extension
 * cannot tamper with another's globals. Runs on its own thread; the host thread only
 * watches the progress counter and enforces the time limits.
 */
export class IsolateWorker {
  private readonly byHash = new Map<string, ContextApi>();
  private readonly progress = new SharedArrayBuffer(4);
  private failure: { index: number; kind: FailureKind; message: string } | undefined;

  private constructor(
    private readonly ivm: Ivm,
    private readonly isolate: IvmIsolate,
    private readonly limits: SandboxLimits,
    private readonly hostCall: HostCall,
  ) {}

  static create(ivm: Ivm, limits: SandboxLimits, hostCall: HostCall): IsolateWorker {
    return new IsolateWorker(ivm, new ivm.Isolate({ memoryLimit: limits.memoryMb }), limits, hostCall);
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /** Loads one extension into its own context. Never throws for a bad extension: the
   * report says what went wrong; a disposed isolate (memory bomb at load) shows in `disposed`. */
  async load(source: WorkerSource): Promise<LoadReport> {
    const { ivm } = this;
    try {
      const context = await this.isolate.createContext();
      await context.global.set('__rd_progress', new ivm.ExternalCopy(this.progress).copyInto({ release: true }));
      await context.global.set('__rd_outputBytesPerDoc', this.limits.outputBytesPerDoc);
      for (const [name, fn] of Object.entries(this.syncHelpers())) await context.global.set(`__rd_${name}`, new ivm.Callback(fn));
      await context.global.set('__rd_hostCall', new ivm.Reference(this.hostCall));
      // The bootstrap captures the helpers, then they vanish from the global scope.
      const api = (await context.eval(
        `(() => { const env = { progress: __rd_progress, outputBytesPerDoc: __rd_outputBytesPerDoc, hostCall: __rd_hostCall, toBase64: __rd_toBase64, decode: __rd_decode, hash: __rd_hash };
          for (const k of Object.keys(globalThis)) if (k.startsWith('__rd_')) delete globalThis[k];
          return ${bootstrapSource}(env); })()`,
        { reference: true, timeout: 1000 },
      )) as IvmReference;
      const module = await this.isolate.compileModule(source.code, {
        filename: `file:///${source.origin.replace(/^\/+/, '')}`,
        ...(source.cachedData ? { cachedData: source.cachedData } : { produceCachedData: true }),
      });
      await module.instantiate(context, (specifier) => {
        throw new Error(`import "${specifier}" is not allowed: an extension is one self-contained file; use rd for everything else`);
      });
      await module.evaluate({ timeout: this.limits.cpuMsPerDoc });
      const register = (await api.get('register', { reference: true })) as IvmReference;
      // Registration reads the declaration, which can be getters: extension code, bounded
      // like the module's top level.
      const rawJson = (await register.apply(undefined, [module.namespace.derefInto()], { result: { copy: true }, timeout: this.limits.cpuMsPerDoc })) as string;
      const raw = JSON.parse(rawJson) as RawDeclaration;
      this.byHash.set(source.codeHash, {
        context,
        run: (await api.get('run', { reference: true })) as IvmReference,
        runLater: (await api.get('runLater', { reference: true })) as IvmReference,
      });
      return { codeHash: source.codeHash, raw, ...(module.cachedData ? { cachedData: module.cachedData } : {}) };
    } catch (err) {
      return { codeHash: source.codeHash, error: describeLoadError(err, this.isolate.isDisposed) };
    }
  }

  /** The position, in the call under way, of the document the isolate is on (-1: none). */
  get currentDoc(): number {
    return Atomics.load(new Int32Array(this.progress), 0) - 1;
  }

  /** `answers`: what the bootstrap answers without a host call (`rd.open` by document id,
   * `rd.myIdentities()`), JSON texts the caller vouches for. */
  run(codeHash: string, docsJson: string, docCount: number, answers?: CallAnswers): Promise<RunOutcome> {
    return this.call(codeHash, 'run', [docsJson, answers ?? {}], docCount);
  }

  runLater(codeHash: string, valuesJson: string): Promise<RunOutcome> {
    return this.call(codeHash, 'runLater', [valuesJson], 1);
  }

  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  private async call(codeHash: string, which: 'run' | 'runLater', args: unknown[], docCount: number): Promise<RunOutcome> {
    const api = this.byHash.get(codeHash);
    if (!api) throw new Error(`extension ${codeHash} is not loaded in this isolate`);
    this.failure = undefined;
    const stopWatching = this.watch(docCount);
    try {
      const results: unknown = await api[which].apply(undefined, args, { arguments: { copy: true }, result: { copy: true } });
      return { ok: true, results };
    } catch (err) {
      const counter = Atomics.load(new Int32Array(this.progress), 0);
      const index = Math.max(0, counter - 1);
      const failure = this.failure as { index: number; kind: FailureKind; message: string } | undefined;
      if (failure) return { ok: false, ...failure };
      const message = (err as Error)?.message ?? String(err);
      if (/memory limit/i.test(message)) {
        return { ok: false, index, kind: 'memory', message: `the extension ran out of memory (limit ${this.limits.memoryMb} MB per isolate)` };
      }
      // Anything else that escapes the bootstrap's own try/catch broke the isolate.
      this.dispose();
      return { ok: false, index, kind: 'exception', message: `the sandbox failed: ${message}` };
    } finally {
      stopWatching();
    }
  }

  /**
   * Enforces CPU and wall time per document. The isolate reports which document it is on
   * through a shared counter; the clocks are the host's. Nothing the extension can change
   * switches the limits off: time with the counter standing still counts against the
   * document limit whatever the counter says (also 0: work outside any document, e.g. a
   * getter the bootstrap reads), and the call as a whole may use at most one document's
   * limit per document plus one, however the counter moves.
   *
   * CPU is counted on two clocks, and the limit holds only when both have passed it:
   * isolated-vm's `cpuTime` is the time the isolate was running, which grows with the
   * time its thread waits for a core on a busy machine (its documentation warns of it; a
   * document of 0.1 s of work was stopped at "5,000 ms of CPU" on a loaded 2-core machine,
   * and its error stayed). The kernel's count for this whole process cannot be below
   * what the isolate really used, so requiring it too never lets a loop run past its
   * limit, and keeps a busy machine from failing documents that did little.
   */
  private watch(docCount: number): () => void {
    const counter = new Int32Array(this.progress);
    const { cpuMsPerDoc, wallMsPerDoc } = this.limits;
    const callCpuStart = this.isolate.cpuTime;
    const callWallStart = process.hrtime.bigint();
    const callProcessStart = processCpuMs();
    const callBudget = docCount + 1;
    let current = Atomics.load(counter, 0);
    let cpuStart = callCpuStart;
    let wallStart = callWallStart;
    let processStart = callProcessStart;
    const stop = (index: number, message: string): void => {
      this.failure = { index, kind: 'timeout', message };
      this.isolate.dispose();
    };
    const timer = setInterval(() => {
      if (this.isolate.isDisposed) return;
      const cpuNow = this.isolate.cpuTime;
      const wallNow = process.hrtime.bigint();
      const processNow = processCpuMs();
      const now = Atomics.load(counter, 0);
      const index = Math.max(0, Math.min(docCount, now) - 1);
      const cpuMsSince = (isolateFrom: bigint, processFrom: number) => Math.min(Number(cpuNow - isolateFrom) / 1e6, processNow - processFrom);
      if (cpuMsSince(callCpuStart, callProcessStart) > cpuMsPerDoc * callBudget || Number(wallNow - callWallStart) / 1e6 > wallMsPerDoc * callBudget) {
        return stop(index, `the extension used more time on this call than ${callBudget} documents may (${cpuMsPerDoc} ms of CPU, ${wallMsPerDoc} ms in all, each); this document was running when it was stopped`);
      }
      if (now !== current) {
        current = now;
        cpuStart = cpuNow;
        wallStart = wallNow;
        processStart = processNow;
        return;
      }
      const cpuMs = cpuMsSince(cpuStart, processStart);
      const wallMs = Number(wallNow - wallStart) / 1e6;
      if (cpuMs > cpuMsPerDoc) return stop(index, `the extension used more than ${cpuMsPerDoc} ms of CPU on this document`);
      if (wallMs > wallMsPerDoc) return stop(index, `the extension took more than ${wallMsPerDoc} ms on this document`);
    }, this.limits.watchdogIntervalMs);
    return () => clearInterval(timer);
  }

  private syncHelpers(): Record<string, (...args: never[]) => unknown> {
    return {
      toBase64: (bytes: Uint8Array) => Buffer.from(bytes).toString('base64'),
      decode: (bytes: Uint8Array, charset: string) => {
        if (!iconv.encodingExists(charset)) throw new Error(`rd.std.decode: unknown charset "${charset}"`);
        return iconv.decode(Buffer.from(bytes), charset);
      },
      hash: (data: string | Uint8Array, algorithm: string) => createHash(algorithm).update(data).digest('hex'),
    };
  }
}

/** CPU time of this whole process (every thread, user and system), in ms. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function describeLoadError(err: unknown, disposed: boolean): string {
  const message = (err as Error)?.message ?? String(err);
  if (/memory limit/i.test(message) || disposed) return `loading the module exhausted the sandbox (${message})`;
  if (/timed out/i.test(message)) return 'the module\'s top-level code ran too long; move work into handler()';
  return message;
}
