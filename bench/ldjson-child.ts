/**
 * Two baselines for bench/sandbox.bench.ts, sharing one way of running an extension:
 *
 * - `loadInVm`: the extension evaluated with node:vm in the calling process (no security
 *   boundary), used in-process by the benchmark;
 * - run as a script, this file is a query server in CouchDB's style: the first stdin line
 *   is the extension's code (a JSON string), then each line is one document and gets back
 *   one line with what the handler emitted. It is the design the original Raindrop
 *   rejected as too slow; the benchmark measures by how much.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { docIdFor, type RdKey } from '../src/core/index.js';

export interface VmEmit {
  id: string;
  key: unknown;
  schemaId: string;
  fields: unknown;
}

export type VmHandler = (doc: Record<string, unknown>) => VmEmit[];

/**
 * Evaluates an extension module in a fresh context and returns a function that runs its
 * handler on one document. `export default` becomes an assignment because vm's module
 * support (SourceTextModule) is still behind a flag; for a one-file extension that has no
 * imports, the two are the same. The `rd` is minimal but computes the target id as the
 * sandbox does, so the outputs of the three methods can be compared field for field.
 */
export function loadInVm(code: string): VmHandler {
  const context = vm.createContext({});
  new vm.Script(code.replace(/^export default/m, 'globalThis.__ext ='), { filename: 'extension.js' }).runInContext(context);
  const ext = (context as { __ext?: { emits?: string[]; handler?: (doc: unknown, rd: unknown) => unknown } }).__ext;
  const handler = ext?.handler;
  if (typeof handler !== 'function') throw new Error('the extension has no handler');
  const emits = new Set(ext?.emits ?? []);
  return (doc) => {
    const out: VmEmit[] = [];
    const rd = {
      emit(schemaId: string, fields: unknown, options: { key?: unknown } = {}) {
        if (!emits.has(schemaId)) throw new Error(`rd.emit of undeclared schema "${schemaId}"`);
        const key = options.key ?? doc.rd_key;
        const id = docIdFor(key as RdKey, schemaId);
        out.push({ id, key, schemaId, fields });
        return id;
      },
    };
    handler.call(undefined, doc, rd);
    return out;
  };
}

/** The query-server loop: one line in, one line out, strictly in order. */
function serve(): void {
  let handler: VmHandler | undefined;
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    let answer: unknown;
    try {
      if (!handler) {
        handler = loadInVm(JSON.parse(line) as string);
        answer = { ok: true };
      } else {
        answer = { ok: true, emits: handler(JSON.parse(line) as Record<string, unknown>) };
      }
    } catch (err) {
      answer = { ok: false, message: (err as Error).message };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  });
  lines.on('close', () => process.exit(0));
}

// Imported by the benchmark for loadInVm; only a direct `node ldjson-child.js` serves.
if (process.argv[1] === fileURLToPath(import.meta.url)) serve();
