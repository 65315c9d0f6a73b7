/**
 * The embedded server's map/reduce plugin: pouchdb-mapreduce's indexer
 * (pouchdb-abstract-mapreduce: changes feed, index storage, querying) with one thing
 * replaced, how a view function is run.
 *
 * pouchdb-mapreduce runs a map function by pasting the function and the document (as JSON)
 * into a new source text and running it with `vm.runInNewContext`: a new V8 context and a
 * new compilation for every document and every view. That was the embedded server's view
 * build: measured on 250 processed messages (3,388 documents, 7 views, 20 s in all), 55 %
 * of the server's CPU time was in runInNewContext (36 % creating contexts, 16 % compiling)
 * and another 18 % in the garbage collector, about 2 ms per document and view.
 *
 * Here each function is compiled once, in a context of its own, and called for every
 * document. As before, the document goes in as JSON and the emitted rows come out as JSON,
 * as CouchDB's couchjs does: a function sees only a copy, nothing of this process, and what
 * it emits is plain JSON data. Only functions the code policy trusts (Raindrop's own views,
 * couchapp/ddocs) are compiled; pouchdb-guards.ts already refuses the rest at `query`, this
 * is the second lock on the same door.
 *
 * Same storage as pouchdb-mapreduce (local document `mrviews`, index databases named by
 * the functions' text), so indexes built before this change are used as they are.
 */

import { createRequire } from 'node:module';
import { Script, createContext } from 'node:vm';

const require = createRequire(import.meta.url);

type Emit = (key: unknown, value: unknown) => void;
type MapFunction = (doc: unknown) => void;
type ReduceFunction = (keys: unknown, values: unknown[], rereduce: boolean) => unknown;

interface AbstractMapReduce {
  query(this: unknown, fun: unknown, opts: unknown, callback: unknown): unknown;
  viewCleanup(this: unknown, callback: unknown): unknown;
}

type CreateAbstractMapReduce = (
  localDocName: string,
  mapper: (source: unknown, emit: Emit) => MapFunction,
  reducer: (source: unknown) => ReduceFunction,
  ddocValidator: (ddoc: { _id: string; views?: Record<string, { map?: unknown }> }, viewName: string) => void,
) => AbstractMapReduce;

interface MapReduceUtils {
  BuiltInError: new (message: string) => Error;
  NotFoundError: new (message: string) => Error;
}

/** What CouchDB's JavaScript view server offers a view function besides `emit`: `sum`,
 * `log` (a no-op here: the server keeps no view log), `isArray`, `toJSON`. */
const HELPERS = `
  var log = function () {};
  var isArray = Array.isArray;
  var toJSON = function (value) { return JSON.stringify(value); };
  var sum = function (values) { var s = 0; for (var i = 0; i < values.length; i++) s += values[i]; return s; };`;

/** A trusted function compiled once in a context of its own: `scope` declares what the
 * function sees besides the helpers (`emit` must be in its lexical scope), `body` calls
 * it as `fn`, taking the arguments as JSON text (`argsJson`) and returning JSON text. */
function compile(source: string, scope: string, body: string): (argsJson: string) => string {
  // No eval or `new Function` inside: a view function needs neither.
  const context = createContext(Object.create(null) as object, { codeGeneration: { strings: false, wasm: false } });
  const text = `(function () { "use strict";${HELPERS}\n  ${scope}\n  var fn = (${source.replace(/;\s*$/, '')});\n  return function (argsJson) { ${body} };\n})()`;
  return new Script(text, { filename: 'raindrop-view.js' }).runInContext(context) as (argsJson: string) => string;
}

/** The three built-in reduce functions, as pouchdb-mapreduce defines them (which does not
 * export them): `_sum` adds numbers, or arrays of numbers element by element. */
function builtInReduce(name: string, utils: MapReduceUtils): ReduceFunction | undefined {
  const invalid = () => new utils.BuiltInError(`builtin ${name} function requires map values to be numbers or number arrays`);
  const sum = (values: unknown[]): number | number[] => {
    let total: number | number[] = 0;
    for (const value of values) {
      if (typeof value === 'number') {
        if (typeof total === 'number') total += value;
        else total[0] = (total[0] ?? 0) + value;
      } else if (Array.isArray(value)) {
        const sums: number[] = typeof total === 'number' ? [total] : total;
        value.forEach((v: unknown, i) => {
          if (typeof v !== 'number') throw invalid();
          sums[i] = (sums[i] ?? 0) + v;
        });
        total = sums;
      } else {
        throw invalid();
      }
    }
    return total;
  };
  if (name === '_count') return (_keys, values) => values.length;
  if (name === '_sum') return (_keys, values) => sum(values);
  if (name === '_stats') {
    return (_keys, values) => {
      if (values.some((v) => typeof v !== 'number')) throw invalid();
      const n = values as number[];
      return { sum: n.reduce((a, b) => a + b, 0), min: Math.min(...n), max: Math.max(...n), count: n.length, sumsqr: n.reduce((a, b) => a + b * b, 0) };
    };
  }
  return undefined;
}

/** The plugin (`query`, `viewCleanup`) for `PouchDB.plugin`. `trusts(source)`: whether
 * this function text is one of Raindrop's own (code-policy.ts). */
export function createViewEngine(trusts: (source: string) => boolean): AbstractMapReduce {
  const createAbstractMapReduce = require('pouchdb-abstract-mapreduce') as CreateAbstractMapReduce;
  const utils = require('pouchdb-mapreduce-utils') as MapReduceUtils;
  const maps = new Map<string, (argsJson: string) => string>();
  const reduces = new Map<string, (argsJson: string) => string>();

  const trusted = (source: unknown): string => {
    if (typeof source !== 'string' || !trusts(source)) {
      throw Object.assign(new Error('this view is not one of Raindrop\'s own: the embedded server runs no other code from the database'), { status: 403, name: 'forbidden', error: true });
    }
    return source;
  };

  const mapper = (source: unknown, emit: Emit): MapFunction => {
    const text = trusted(source);
    let run = maps.get(text);
    if (!run) {
      run = compile(text, 'var rows = []; var emit = function (key, value) { rows.push([key, value]); };', 'rows = []; fn(JSON.parse(argsJson)); return JSON.stringify(rows);');
      // Bounded: only trusted texts get here.
      maps.set(text, run);
    }
    const call = run;
    return (doc) => {
      const rows = JSON.parse(call(JSON.stringify(doc))) as Array<[unknown, unknown]>;
      for (const [key, value] of rows) emit(key, value);
    };
  };

  const reducer = (source: unknown): ReduceFunction => {
    const text = trusted(source).trim();
    const builtIn = builtInReduce(text, utils);
    if (builtIn) return builtIn;
    let run = reduces.get(text);
    if (!run) {
      run = compile(text, '', 'var a = JSON.parse(argsJson); var r = fn(a[0], a[1], a[2]); return JSON.stringify(r === undefined ? null : r);');
      reduces.set(text, run);
    }
    const call = run;
    return (keys, values, rereduce) => JSON.parse(call(JSON.stringify([keys, values, rereduce]))) as unknown;
  };

  const ddocValidator = (ddoc: { _id: string; views?: Record<string, { map?: unknown }> }, viewName: string): void => {
    const fun = ddoc.views?.[viewName];
    if (typeof fun?.map !== 'string') throw new utils.NotFoundError(`ddoc ${ddoc._id} has no string view named ${viewName}, instead found object of type: ${typeof fun?.map}`);
  };

  const abstract = createAbstractMapReduce('mrviews', mapper, reducer, ddocValidator);
  return {
    query(fun, opts, callback) {
      return abstract.query.call(this, fun, opts, callback);
    },
    viewCleanup(callback) {
      return abstract.viewCleanup.call(this, callback);
    },
  };
}
