import type { JsonValue, RdKey } from '../core/index.js';

/** Why a document failed in an extension. Stable strings: error records store them. */
export type FailureKind =
  | 'exception' // the handler threw
  | 'timeout' // CPU or wall time per document exceeded
  | 'memory' // the isolate ran out of its heap
  | 'output-size' // the document's output is over the limit
  | 'capability' // the extension reached for something it may not (undeclared schema, process, clock...)
  | 'invalid-output' // emitted values that are not JSON data
  | 'crash'; // the sandbox process died on this document

export interface ExtensionDeclaration {
  id: string;
  source_schemas: string[];
  emits: string[];
  reads: string[];
  category: 'provider' | 'extender' | 'smart';
  confidence: number;
  uses_dependencies: boolean;
  has_later_handler: boolean;
}

/** An extension file as read from disk (or from its rd.ext.workqueue document). */
export interface ExtensionSource {
  /** Where it came from, for messages (a path or a document id). */
  origin: string;
  code: string;
}

export interface LoadedExtension {
  origin: string;
  codeHash: string;
  /** Present when the file loaded and its declaration is valid. */
  declaration?: ExtensionDeclaration;
  /** What is wrong with the file; empty when it loaded. */
  problems: string[];
}

export interface EmittedAttachment {
  contentType: string;
  data: Uint8Array;
}

export interface Emitted {
  id: string;
  key: RdKey;
  schemaId: string;
  fields: Record<string, JsonValue>;
  attachments?: Record<string, EmittedAttachment>;
  /** Ids of documents this output depends on. */
  deps?: string[];
}

/** An output a later_handler takes back (rd.retract): its own item of that document is
 * removed; the document goes when no other writer contributed to it. */
export interface Retracted {
  id: string;
  key: RdKey;
  schemaId: string;
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn';
  message: string;
}

export type DocResult =
  | { ok: true; emits: Emitted[]; retracts?: Retracted[]; later: JsonValue[]; logs: LogEntry[] }
  | { ok: false; kind: FailureKind; message: string; logs: LogEntry[] };

/**
 * What the host offers the extension's `rd` while it runs: the queue implements it
 * (with read-your-own-writes inside a batch), `raindrop ext run` implements it from
 * fixtures. The pool has already checked that the extension may make the call, and
 * filters what a query answers (capabilities.ts).
 */
export interface HostServices {
  open(requests: Array<{ key: RdKey; schemaId: string }>): Promise<Array<Record<string, unknown> | null>>;
  attachment(docId: string, name: string): Promise<Uint8Array | null>;
  /** The attachment's bytes when they are already in memory (no read): the pool sends
   * them with a job so the isolate's `rd.attachment` is answered without a round trip. */
  cachedAttachment?(docId: string, name: string): Uint8Array | undefined;
  query(view: string, params: Record<string, JsonValue>): Promise<unknown>;
  myIdentities(): Promise<JsonValue[]>;
}
