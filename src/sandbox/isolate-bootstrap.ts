/**
 * The code that runs inside every extension's context, before the extension. It is a
 * plain function whose source text is evaluated in the isolate (`bootstrapSource`), so
 * it must not refer to anything outside itself: no imports, no host globals.
 *
 * It builds `rd` (the only door to the world), removes ambient authority, makes the
 * clock and randomness unavailable, and runs batches of documents, reporting progress
 * through a shared counter that the host's watchdog reads.
 */

/** What the host puts into the context for the bootstrap to capture. */
export interface BootstrapEnv {
  /** Async host call, used with applySyncPromise: (op, argsJson | bytes) => string | ArrayBuffer | null. */
  hostCall: { applySyncPromise(receiver: undefined, args: unknown[], options?: { arguments?: { copy?: boolean } }): unknown };
  /** Sync host helpers. Each call is a hop to the pool process's main thread: keep them
   * off the per-document path (document ids are computed in here, see docId). */
  toBase64(bytes: Uint8Array): string;
  decode(bytes: Uint8Array, charset: string): string;
  hash(data: string | Uint8Array, algorithm: string): string;
  /** Int32 slot 0: 1-based index of the document running now, 0 when idle. */
  progress: SharedArrayBuffer;
  outputBytesPerDoc: number;
}

/** Answers handed to a `run` call for the bootstrap to give without a host call. */
export interface CallAnswers {
  /** `rd.open` answers by document id: the JSON text of the document, or "null". */
  open?: Record<string, string>;
  /** `rd.myIdentities()`'s JSON text. */
  identities?: string;
}

/* eslint-disable */
export function bootstrap(env: BootstrapEnv) {
  'use strict';
  const g = globalThis as unknown as Record<string, unknown>;
  const progress = new Int32Array(env.progress);
  // Captured before any extension code runs: the host's watchdog reads this counter, and
  // an extension that replaced Atomics.store (or wrapped it to get hold of the counter)
  // would otherwise hide its progress and switch off its own time limits. The host does
  // not rely on it alone (isolate-worker.ts also bounds each call as a whole).
  const atomicsStore = Atomics.store;
  const setProgress = (value: number): void => {
    atomicsStore(progress, 0, value);
  };
  const { hostCall, toBase64, decode, hash, outputBytesPerDoc } = env;
  // Captured now, so an extension that replaces JSON.stringify cannot forge what the
  // bootstrap reports (the host checks every output again anyway).
  const json = { stringify: JSON.stringify.bind(JSON), parse: JSON.parse.bind(JSON) };
  // toJSON on a shared prototype would rewrite every later output: refused per document.
  const tamperedPrototype = (): string | undefined => {
    for (const [name, proto] of [['Object', Object.prototype], ['Array', Array.prototype], ['String', String.prototype], ['Number', Number.prototype], ['Boolean', Boolean.prototype]] as const) {
      if (Object.prototype.hasOwnProperty.call(proto, 'toJSON')) {
        delete (proto as unknown as Record<string, unknown>).toJSON;
        return `${name}.prototype.toJSON`;
      }
    }
    return undefined;
  };
  const isArray = Array.isArray;
  const hasOwn = Object.hasOwn;

  /** Answers the pool process handed over with the call under way (known-answers.ts):
   * `rd.open` by document id and `rd.myIdentities()`, as JSON text. Answered in here, a
   * read costs no hop to the pool process's thread (that hop was ~0.15-0.3 ms each, and
   * the mail cascade makes ~15 a message). They are only what the host would answer
   * this extension anyway; an extension that changes them misleads only itself. */
  let answers: CallAnswers = {};

  class RdError extends Error {
    rdKind: string;
    constructor(kind: string, message: string) {
      super(message);
      this.rdKind = kind;
    }
  }
  const refuse = (what: string, instead: string) => () => {
    throw new RdError('capability', `${what} is not available to extensions: ${instead}`);
  };

  // Ambient authority: none of these exist in an isolate, but an extension that reaches
  // for one should be told plainly that it may not, not get a confusing ReferenceError.
  for (const name of ['require', 'process', 'fetch', 'XMLHttpRequest', 'WebSocket', 'Buffer', 'module', 'exports', 'setTimeout', 'setInterval', 'setImmediate', 'importScripts']) {
    Object.defineProperty(g, name, { get: refuse(`"${name}"`, 'use the rd object passed to your handler'), configurable: false });
  }
  // Same input, same output: no clock, no randomness.
  Math.random = refuse('Math.random', 'outputs must depend only on the input; derive values from the document (rd.std.hash)');
  const RealDate = Date;
  const clock = refuse('the clock (Date.now / new Date())', 'use dates from the document, e.g. new Date(doc.date)');
  function SafeDate(this: unknown, ...args: unknown[]) {
    if (!new.target) return clock();
    if (args.length === 0) return clock();
    return Reflect.construct(RealDate, args, new.target);
  }
  Object.setPrototypeOf(SafeDate, RealDate);
  SafeDate.prototype = RealDate.prototype;
  Object.defineProperty(RealDate.prototype, 'constructor', { value: SafeDate });
  (SafeDate as unknown as { now: unknown }).now = clock;
  g.Date = SafeDate;

  /** Strict JSON check: JSON.stringify would silently drop or convert these. */
  const checkJson = (value: unknown, path: string, depth: number): void => {
    if (depth > 200) throw new RdError('invalid-output', `${path} is nested more than 200 levels deep`);
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RdError('invalid-output', `${path} is ${value}, which JSON cannot hold`);
      return;
    }
    if (typeof value !== 'object') throw new RdError('invalid-output', `${path} is ${typeof value}, which is not JSON data`);
    if (isArray(value)) {
      for (let i = 0; i < value.length; i++) checkJson(value[i], `${path}[${i}]`, depth + 1);
      return;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new RdError('invalid-output', `${path} is a ${(value as object).constructor?.name ?? 'class instance'}; emit plain objects, arrays, strings, numbers, booleans or null (dates as strings)`);
    }
    for (const k of Object.keys(value)) checkJson((value as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
  };

  // Document ids, computed here rather than by a host callback: a synchronous ivm.Callback
  // runs on the pool process's main thread, so every emit stalled its isolate on a thread
  // hop and all isolates queued on that one thread (half of the pool's time per document
  // in bench/sandbox.bench.ts). The rules and messages are docIdFor's (src/core/keys.ts);
  // the host recomputes every emitted id (pool.ts), so neither a slip here nor an
  // extension tampering with the builtins used here can store a wrong id.
  const keyTypePattern = /^[a-z][a-z0-9_-]*$/;
  const schemaIdPattern = /^[a-z][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*$/;
  const show = (value: unknown): string => {
    try {
      const text = json.stringify(value);
      if (text === undefined) return String(value);
      return text.length > 80 ? `${text.slice(0, 77)}...` : text;
    } catch {
      return String(value);
    }
  };
  const notJson = (path: string, what: string) =>
    new Error(`${path} is ${what}, which is not JSON data; use null, a number, a string, a boolean, an array or a plain object`);
  /** canonicalJson of src/core/canonical-json.ts: sorted keys, no whitespace. */
  const canonical = (value: unknown, seen: Set<object>, path: string): string => {
    if (value === null) return 'null';
    if (typeof value === 'string' || typeof value === 'boolean') return json.stringify(value);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw notJson(path, String(value));
      return json.stringify(value);
    }
    if (typeof value !== 'object') throw notJson(path, typeof value);
    if (seen.has(value)) throw notJson(path, 'a circular reference');
    seen.add(value);
    try {
      if (isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) parts.push(canonical(value[i], seen, `${path}[${i}]`)); // holes are undefined: refused
        return `[${parts.join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw notJson(path, `an instance of ${(value as object).constructor?.name ?? 'a class'}`);
      const record = value as Record<string, unknown>;
      return `{${Object.keys(record).sort().map((k) => `${json.stringify(k)}:${canonical(record[k], seen, `${path}.${k}`)}`).join(',')}}`;
    } finally {
      seen.delete(value);
    }
  };
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  /** base64url (no padding) of the UTF-8 bytes of a string; no Buffer in an isolate. */
  const base64url = (text: string): string => {
    const bytes: number[] = [];
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as Buffer encodes it
      if (c < 0x80) bytes.push(c);
      else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    let out = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
      out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]!;
      if (i + 1 < bytes.length) out += alphabet[(n >> 6) & 63]!;
      if (i + 2 < bytes.length) out += alphabet[n & 63]!;
    }
    return out;
  };
  const docId = (key: unknown, schemaId: string): string => {
    if (!isArray(key) || key.length !== 2) throw new Error(`a key must be a two-element array [type, value], got ${show(key)}`);
    const [type, value] = key as unknown[];
    if (typeof type !== 'string' || !keyTypePattern.test(type)) {
      throw new Error(`the key type ${show(type)} is not valid; use a lower-case word such as "email" or "identity"`);
    }
    if (value === undefined) throw new Error(`the key value of a "${type}" key is missing`);
    const encoded = base64url(canonical(value, new Set(), '$'));
    if (!schemaIdPattern.test(schemaId)) {
      throw new Error(`the schema id ${show(schemaId)} is not valid; use dot-separated lower-case words such as "rd.msg.email"`);
    }
    return `rc!${type}.${encoded}!${schemaId}`;
  };

  // The host refuses what the declaration does not allow (src/sandbox/capabilities.ts);
  // its refusals are capability failures, not the extension's own exceptions.
  const capabilityPrefix = '[capability] ';
  const hostAnswer = (op: string, arg: unknown): unknown => {
    try {
      return hostCall.applySyncPromise(undefined, [op, arg]);
    } catch (error) {
      const message = (error as { message?: unknown } | null)?.message;
      if (typeof message === 'string' && message.startsWith(capabilityPrefix)) throw new RdError('capability', message.slice(capabilityPrefix.length));
      throw error;
    }
  };
  const callHost = (op: string, args: unknown): unknown => {
    const answer = hostAnswer(op, json.stringify(args));
    return typeof answer === 'string' ? json.parse(answer) : answer;
  };

  interface Registered {
    decl: Record<string, unknown>;
    emits: Set<string>;
    reads: Set<string>;
    /** Read once at registration: a getter that misbehaves later cannot run unwatched. */
    handler: unknown;
    laterHandler: unknown;
  }
  let ext: Registered | undefined;

  interface Collector { emits: unknown[]; retracts: unknown[]; later: unknown[]; logs: unknown[]; closed: boolean }

  /** Every answer, when the call's answers hold them all; else undefined (the host
   * answers, and refuses what it must, with its own messages). */
  const knownOpens = (requests: Array<[unknown, string]>): unknown[] | undefined => {
    const texts = answers.open;
    if (!texts) return undefined;
    const found: unknown[] = [];
    for (const [key, schemaId] of requests) {
      let id: string;
      try {
        id = docId(key, schemaId);
      } catch {
        return undefined;
      }
      if (!hasOwn(texts, id)) return undefined;
      found.push(json.parse(texts[id] as string));
    }
    return found;
  };
  const myIdentities = (): unknown => {
    if (answers.identities === undefined) {
      const text = hostAnswer('myIdentities', '{}');
      if (typeof text !== 'string') return text;
      // One batch's answer: the same for the call's other documents.
      answers = { ...answers, identities: text };
    }
    return json.parse(answers.identities as string);
  };

  const makeRd = (doc: Record<string, unknown> | null, out: Collector) => {
    const open = (requests: Array<[unknown, string]>) => {
      for (const [, schemaId] of requests) {
        if (!ext!.reads.has(schemaId)) {
          throw new RdError('capability', `rd.open of schema "${schemaId}" is refused: add it to "reads" in the extension's declaration`);
        }
      }
      const known = knownOpens(requests);
      if (known) return known;
      return callHost('open', requests.map(([key, schemaId]) => ({ key, schemaId }))) as unknown[];
    };
    const log = (level: string) => (...parts: unknown[]) => {
      out.logs.push({ level, message: parts.map((p) => (typeof p === 'string' ? p : json.stringify(p))).join(' ') });
    };
    return Object.freeze({
      emit(schemaId: string, fields: unknown, options: { key?: unknown; attachments?: Record<string, { content_type?: string; data?: unknown }>; deps?: unknown[] } = {}) {
        if (out.closed) throw new RdError('capability', 'rd.emit after the handler returned is refused: handlers are synchronous');
        if (!ext!.emits.has(schemaId)) {
          throw new RdError('capability', `rd.emit of schema "${schemaId}" is refused: add it to "emits" in the extension's declaration`);
        }
        const key = options.key ?? doc?.rd_key;
        if (key === undefined) throw new RdError('invalid-output', `rd.emit("${schemaId}") needs {key} here: there is no source document to take it from`);
        if (fields === null || typeof fields !== 'object' || isArray(fields)) {
          throw new RdError('invalid-output', `rd.emit("${schemaId}", fields): fields must be a plain object`);
        }
        checkJson(fields, 'fields', 0);
        checkJson(key, 'key', 0);
        const id = docId(key, schemaId);
        const item: Record<string, unknown> = { id, key, schemaId, fields };
        if (options.attachments) {
          const atts: Record<string, unknown> = {};
          for (const name of Object.keys(options.attachments)) {
            const att = options.attachments[name]!;
            const type = typeof att.content_type === 'string' ? att.content_type : 'application/octet-stream';
            if (att.data instanceof Uint8Array) atts[name] = { content_type: type, base64: toBase64(att.data) };
            else if (typeof att.data === 'string') atts[name] = { content_type: type, text: att.data };
            else throw new RdError('invalid-output', `attachment "${name}": data must be a string or a Uint8Array`);
          }
          item.attachments = atts;
        }
        if (options.deps) {
          item.deps = options.deps.map((d) => {
            if (typeof d === 'string') return d;
            if (isArray(d) && d.length === 2) {
              checkJson(d[0], 'deps key', 0);
              return docId(d[0], String(d[1]));
            }
            throw new RdError('invalid-output', 'deps: use document ids or [key, schemaId] pairs');
          });
        }
        out.emits.push(item);
        return id;
      },
      // Only a later_handler retracts: its outputs belong to no source, so nothing else
      // can ever remove one it no longer wants (a handler retracts by not emitting: the
      // queue removes a source's outputs that its new run did not produce).
      retract(key: unknown, schemaId: string) {
        if (out.closed) throw new RdError('capability', 'rd.retract after the handler returned is refused: handlers are synchronous');
        if (doc !== null) throw new RdError('capability', 'rd.retract is for later_handler only: a handler removes an output by no longer emitting it');
        if (!ext!.emits.has(schemaId)) {
          throw new RdError('capability', `rd.retract of schema "${schemaId}" is refused: add it to "emits" in the extension's declaration`);
        }
        checkJson(key, 'key', 0);
        const id = docId(key, schemaId);
        out.retracts.push({ id, key, schemaId });
        return id;
      },
      open: (key: unknown, schemaId: string) => open([[key, schemaId]])[0] ?? null,
      openMany: (requests: Array<[unknown, string]>) => open(requests),
      attachment(source: { _id?: unknown } | string, name: string, as: 'bytes' | 'text' = 'bytes') {
        const id = typeof source === 'string' ? source : source?._id;
        if (typeof id !== 'string') throw new RdError('exception', 'rd.attachment(doc, name): pass the document (or its id)');
        const schema = typeof source === 'object' ? (source as Record<string, unknown>).rd_schema_id : undefined;
        if (doc && id !== doc._id && typeof schema === 'string' && !ext!.reads.has(schema)) {
          throw new RdError('capability', `rd.attachment of a "${schema}" document is refused: add it to "reads"`);
        }
        const bytes = hostAnswer('attachment', json.stringify({ id, name })) as ArrayBuffer | null;
        if (bytes === null) return null;
        const view = new Uint8Array(bytes);
        return as === 'text' ? decode(view, 'utf-8') : view;
      },
      query: (view: string, params: Record<string, unknown> = {}) => callHost('query', { view, params }),
      myIdentities,
      later(value: unknown) {
        checkJson(value, 'later value', 0);
        out.later.push(value);
      },
      log: Object.freeze({ debug: log('debug'), info: log('info'), warn: log('warn') }),
      std: Object.freeze({
        decode: (bytes: Uint8Array, charset: string) => decode(bytes, charset),
        hash: (data: string | Uint8Array, algorithm = 'sha256') => hash(data, algorithm),
        // Host-side helpers on the async path (answered in the pool process, one call each).
        parseMime(bytes: Uint8Array) {
          if (!(bytes instanceof Uint8Array)) throw new RdError('exception', 'rd.std.parseMime(bytes): pass the message bytes as a Uint8Array (rd.attachment(doc, name))');
          const answer = hostCall.applySyncPromise(undefined, ['std.parseMime', bytes], { arguments: { copy: true } });
          return json.parse(answer as string);
        },
        htmlToText: (html: string) => json.parse(hostCall.applySyncPromise(undefined, ['std.htmlToText', String(html)]) as string),
        sanitizeHtml: (html: string) => json.parse(hostCall.applySyncPromise(undefined, ['std.sanitizeHtml', String(html)]) as string),
        findLinks: (text: string) => json.parse(hostCall.applySyncPromise(undefined, ['std.findLinks', String(text)]) as string),
      }),
    });
  };

  const finish = (out: Collector, error: unknown): string => {
    out.closed = true;
    if (error !== undefined) {
      const e = error as { rdKind?: string; message?: unknown; name?: string };
      const kind = e && typeof e === 'object' && typeof e.rdKind === 'string' ? e.rdKind : 'exception';
      const message = e && typeof e === 'object' && 'message' in e ? `${e.name ?? 'Error'}: ${String(e.message)}` : `thrown value: ${String(error)}`;
      return json.stringify({ ok: false, kind, message, logs: out.logs });
    }
    const tampered = tamperedPrototype();
    if (tampered) return json.stringify({ ok: false, kind: 'capability', message: `the extension defined ${tampered}, which would rewrite outputs; it was removed`, logs: [] });
    const text = json.stringify({ ok: true, emits: out.emits, ...(out.retracts.length > 0 ? { retracts: out.retracts } : {}), later: out.later, logs: out.logs });
    if (text.length > outputBytesPerDoc) {
      return json.stringify({ ok: false, kind: 'output-size', message: `the output of this document is ${text.length} bytes; the limit is ${outputBytesPerDoc}`, logs: [] });
    }
    return text;
  };

  const call = (fn: () => unknown, out: Collector): string => {
    try {
      const result = fn();
      if (result && typeof (result as { then?: unknown }).then === 'function') {
        throw new RdError('exception', 'the handler returned a Promise: handlers must be synchronous (rd.open and friends already are)');
      }
      return finish(out, undefined);
    } catch (error) {
      return finish(out, error);
    }
  };

  return {
    register(namespace: { default?: unknown }) {
      const d = namespace.default as Record<string, unknown> | undefined;
      const raw: Record<string, unknown> = { defaultType: d === null ? 'null' : isArray(d) ? 'an array' : typeof d, handlerType: 'undefined', laterHandlerType: 'undefined', unknownKeys: [] };
      if (d && typeof d === 'object' && !isArray(d)) {
        for (const k of ['id', 'source_schemas', 'emits', 'reads', 'category', 'confidence', 'uses_dependencies']) {
          try {
            raw[k] = json.parse(json.stringify(d[k]) ?? 'null') ?? undefined;
          } catch {
            raw[k] = '(not JSON)';
          }
        }
        raw.unknownKeys = Object.keys(d).filter((k) => !['id', 'source_schemas', 'emits', 'reads', 'category', 'confidence', 'uses_dependencies', 'handler', 'later_handler'].includes(k));
        ext = {
          decl: d,
          emits: new Set((isArray(d.emits) ? d.emits : []) as string[]),
          reads: new Set((isArray(d.reads) ? d.reads : []) as string[]),
          handler: d.handler,
          laterHandler: d.later_handler,
        };
        raw.handlerType = typeof ext.handler;
        raw.laterHandlerType = typeof ext.laterHandler;
      }
      return json.stringify(raw);
    },
    /** One JSON text per document: the host forwards them unparsed to the pool's caller,
     * which parses each once (the pool process no longer parses and re-serialises them). */
    run(docsJson: string, callAnswers?: CallAnswers): string[] {
      answers = callAnswers ?? {};
      const docs = json.parse(docsJson) as Array<Record<string, unknown>>;
      const results: string[] = [];
      const handler = ext!.handler as (doc: unknown, rd: unknown) => unknown;
      for (let i = 0; i < docs.length; i++) {
        setProgress(i + 1);
        const doc = docs[i]!;
        const out: Collector = { emits: [], retracts: [], later: [], logs: [], closed: false };
        results.push(call(() => handler.call(undefined, doc, makeRd(doc, out)), out));
      }
      setProgress(0);
      return results;
    },
    runLater(valuesJson: string): string {
      answers = {};
      const values = json.parse(valuesJson) as unknown[];
      const out: Collector = { emits: [], retracts: [], later: [], logs: [], closed: false };
      setProgress(1);
      const later = ext!.laterHandler as (values: unknown, rd: unknown) => unknown;
      const result = call(() => later.call(undefined, values, makeRd(null, out)), out);
      setProgress(0);
      return result;
    },
  };
}

/** The bootstrap as source text, for `context.eval`. */
export const bootstrapSource = `(${bootstrap.toString()})`;
