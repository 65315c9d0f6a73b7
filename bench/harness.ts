/**
 * The benchmark harness: each benchmark reports named measurements; the runner prints a
 * table and writes a JSON file. Later benchmarks express throughput as a ratio against
 * the CouchDB ceilings measured in the same run, never as absolute thresholds.
 */

export interface Measurement {
  name: string;
  value: number;
  unit: string;
  /** Set when the value is a ratio to another measurement of this run. */
  ratioOf?: string;
  notes?: string;
}

export interface BenchContext {
  /** Measurements of benchmarks that already ran, by name (for ratios). */
  results: ReadonlyMap<string, Measurement>;
  log(line: string): void;
}

export interface Benchmark {
  name: string;
  run(ctx: BenchContext): Promise<Measurement[]>;
}

export function formatTable(rows: readonly Measurement[]): string {
  const header = ['measurement', 'value', 'unit', 'notes'];
  const body = rows.map((r) => [r.name, formatNumber(r.value), r.ratioOf ? `× ${r.ratioOf}` : r.unit, r.notes ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function formatNumber(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

/** Median of repeated timings: robust against one slow run on a busy machine. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The ceilings of several servers side by side: one row per measurement, one column
 * per server, and each server's value as a ratio to the first server's. */
export function formatCeilings(rows: readonly Measurement[], servers: ReadonlyArray<{ prefix: string; label: string }>): string {
  const kinds = ['bulk_docs.write', 'bulk_docs.write-access-checked', 'changes.read', 'keyed.read', 'view.build'];
  const first = servers[0];
  if (!first) return '';
  const header = ['ceiling', ...servers.map((s) => s.label), ...servers.slice(1).map((s) => `${s.prefix} / ${first.prefix}`)];
  const valueOf = (prefix: string, kind: string) => rows.find((r) => r.name === `${prefix}.${kind}`);
  const body = kinds.map((kind) => {
    const base = valueOf(first.prefix, kind);
    const unit = base?.unit ?? '';
    return [
      `${kind} (${unit})`,
      ...servers.map((s) => {
        const m = valueOf(s.prefix, kind);
        return m ? formatNumber(m.value) : '-';
      }),
      ...servers.slice(1).map((s) => {
        const m = valueOf(s.prefix, kind);
        return m && base ? `${(m.value / base.value).toFixed(2)}×` : '-';
      }),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** A short name for a server in tables: "CouchDB 3.5.0", "embedded (express-pouchdb 4.2.0)". */
export function serverLabel(info: { vendor: string; version: string }): string {
  if (info.vendor === 'The Apache Software Foundation') return `CouchDB ${info.version}`;
  const embedded = /embedded server \((.+)\)/.exec(info.vendor);
  return embedded ? `embedded (${embedded[1]} ${info.version})` : `${info.vendor} ${info.version}`;
}
