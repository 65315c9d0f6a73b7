/**
 * The part of isolated-vm's API the sandbox uses. Declared here rather than imported
 * from the package because the package is an optional dependency under one of two
 * names (per Node version) and may be absent where the project is type-checked.
 */
export interface IvmExternalCopy<T = unknown> {
  copyInto(options?: { release?: boolean; transferIn?: boolean }): T;
  release(): void;
}

export interface IvmReference<T = unknown> {
  apply(receiver: undefined, args: unknown[], options?: { timeout?: number; arguments?: { copy?: boolean }; result?: { copy?: boolean; promise?: boolean } }): Promise<unknown>;
  get(property: string, options?: { reference?: boolean }): Promise<unknown>;
  set(property: string, value: unknown): Promise<boolean>;
  derefInto(): unknown;
  release(): void;
  readonly typeof: string;
  deref(): T;
}

export interface IvmContext {
  readonly global: IvmReference;
  eval(code: string, options?: { reference?: boolean; copy?: boolean; timeout?: number; filename?: string }): Promise<unknown>;
  release(): void;
}

export interface IvmModule {
  instantiate(context: IvmContext, resolve: (specifier: string) => never): Promise<void>;
  evaluate(options?: { timeout?: number }): Promise<unknown>;
  readonly namespace: IvmReference;
  readonly cachedData?: IvmExternalCopy<ArrayBuffer>;
  readonly cachedDataRejected?: boolean;
  release(): void;
}

export interface IvmIsolate {
  createContext(): Promise<IvmContext>;
  compileModule(code: string, options?: { filename?: string; cachedData?: IvmExternalCopy<ArrayBuffer>; produceCachedData?: boolean }): Promise<IvmModule>;
  dispose(): void;
  readonly isDisposed: boolean;
  readonly cpuTime: bigint;
  readonly wallTime: bigint;
}

export interface Ivm {
  Isolate: new (options: { memoryLimit: number }) => IvmIsolate;
  Reference: new <T>(value: T) => IvmReference<T>;
  ExternalCopy: new <T>(value: T) => IvmExternalCopy<T>;
  Callback: new (fn: (...args: never[]) => unknown) => unknown;
}
