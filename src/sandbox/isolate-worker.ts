import { createHash } from 'node:crypto';
import iconv from 'iconv-lite';
import type { RawDeclaration } from './declaration.js';
import { bootstrapSource } from './isolate-bootstrap.js';
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
      const rawJson = (await register.apply(undefined, [module.namespace.derefInto()], { result: { copy: true } })) as string;
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

  run(codeHash: string, docsJson: string): Promise<RunOutcome> {
    return this.call(codeHash, 'run', docsJson);
  }

  runLater(codeHash: string, valuesJson: string): Promise<RunOutcome> {
    return this.call(codeHash, 'runLater', valuesJson);
  }

  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  private async call(codeHash: string, which: 'run' | 'runLater', payload: string): Promise<RunOutcome> {
    const api = this.byHash.get(codeHash);
    if (!api) throw new Error(`extension ${codeHash} is not loaded in this isolate`);
    this.failure = undefined;
    const stopWatching = this.watch();
    try {
      const results: unknown = await api[which].apply(undefined, [payload], { arguments: { copy: true }, result: { copy: true } });
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

  /** Enforces CPU and wall time per document by watching the progress counter. */
  private watch(): () => void {
    const counter = new Int32Array(this.progress);
    let current = -1;
    let cpuStart = 0n;
    let wallStart = 0n;
    const timer = setInterval(() => {
      if (this.isolate.isDisposed) return;
      const now = Atomics.load(counter, 0);
      if (now !== current) {
        current = now;
        cpuStart = this.isolate.cpuTime;
        wallStart = process.hrtime.bigint();
        return;
      }
      if (now === 0) return;
      const cpuMs = Number(this.isolate.cpuTime - cpuStart) / 1e6;
      const wallMs = Number(process.hrtime.bigint() - wallStart) / 1e6;
      if (cpuMs > this.limits.cpuMsPerDoc || wallMs > this.limits.wallMsPerDoc) {
        this.failure = {
          index: now - 1,
          kind: 'timeout',
          message: cpuMs > this.limits.cpuMsPerDoc
            ? `the extension used more than ${this.limits.cpuMsPerDoc} ms of CPU on this document`
            : `the extension took more than ${this.limits.wallMsPerDoc} ms on this document`,
        };
        this.isolate.dispose();
      }
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

function describeLoadError(err: unknown, disposed: boolean): string {
  const message = (err as Error)?.message ?? String(err);
  if (/memory limit/i.test(message) || disposed) return `loading the module exhausted the sandbox (${message})`;
  if (/timed out/i.test(message)) return 'the module\'s top-level code ran too long; move work into handler()';
  return message;
}
