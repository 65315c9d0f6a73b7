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
