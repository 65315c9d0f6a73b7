import { processEnv } from './load-config.js';

/**
 * The benchmarks' own settings (`npm run bench`), read here because only src/config reads
 * the environment. Each names its variable and its default; a value that cannot be right
 * is an error that names the variable, not a silent default.
 */
type Env = Readonly<Record<string, string | undefined>>;

function parsePositive(name: string, raw: string): number {
  const n = Number(raw);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`${name} must be a positive integer, not "${raw}"`);
  return n;
}

function positiveInteger(env: Env, name: string, fallback: number | undefined): number | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : parsePositive(name, raw);
}

function list(env: Env, name: string): string[] | undefined {
  const raw = env[name];
  return raw === undefined ? undefined : raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** RAINDROP_BENCH_MAIL_N: how many openwrt-devel files the mail cascade takes (all when unset). */
export function cascadeMessagesSetting(env: Env = processEnv()): number | undefined {
  return positiveInteger(env, 'RAINDROP_BENCH_MAIL_N', undefined);
}

/** RAINDROP_BENCH_WEB_N: how many messages the web-app benchmark loads (default 15,000, the size). */
export function webBenchMessagesSetting(env: Env = processEnv()): number {
  return positiveInteger(env, 'RAINDROP_BENCH_WEB_N', 15_000) ?? 15_000;
}

/** RAINDROP_BENCH_WEB_WARM=0 runs the web-app benchmark without serve's view warmer (to see what it saves). */
export function webBenchWarmSetting(env: Env = processEnv()): boolean {
  return env.RAINDROP_BENCH_WEB_WARM !== '0';
}

/** RAINDROP_BENCH_QUEUE_N: the queue benchmark's sizes, comma-separated (its own list when unset). */
export function queueBenchSizesSetting(env: Env = processEnv()): number[] | undefined {
  return list(env, 'RAINDROP_BENCH_QUEUE_N')?.map((s) => parsePositive('RAINDROP_BENCH_QUEUE_N', s));
}

/** RAINDROP_BENCH_QUEUE_LANE=backlog measures the replay lane instead of the incoming one. */
export function queueBenchLaneSetting(env: Env = processEnv()): 'backlog' | 'incoming' {
  return env.RAINDROP_BENCH_QUEUE_LANE === 'backlog' ? 'backlog' : 'incoming';
}

/** RAINDROP_BENCH_CORPORA: which corpora corpus-counts reads, comma-separated (all when unset). */
export function benchCorporaSetting(env: Env = processEnv()): string[] | undefined {
  return list(env, 'RAINDROP_BENCH_CORPORA');
}

/** RAINDROP_BENCH_THREADING_ARCHIVES: which archives threading-check reads (default cake and openwrt-devel). */
export function threadingArchivesSetting(env: Env = processEnv()): string[] {
  return list(env, 'RAINDROP_BENCH_THREADING_ARCHIVES') ?? ['cake', 'openwrt-devel'];
}

/** RAINDROP_BENCH_SEARCH_MESSAGES: how many messages the search benchmark indexes, default
 * 15,000 (the ask: openwrt-devel, cake and SpamAssassin hold 14,914, the nasty set
 * the rest; bench/real-message-files.ts). The queue must derive every message first, which
 * is what takes the time on a small machine. */
export function searchBenchMessagesSetting(env: Env = processEnv()): number {
  return positiveInteger(env, 'RAINDROP_BENCH_SEARCH_MESSAGES', 15_000) ?? 15_000;
}

/** RAINDROP_BENCH_CLUSTER_N: how many messages the cluster benchmark runs through each
 * set-up, default 200 (eight runs of it take several minutes on two cores, where one worker
 * does a few messages a second). */
export function clusterBenchMessagesSetting(env: Env = processEnv()): number {
  return positiveInteger(env, 'RAINDROP_BENCH_CLUSTER_N', 200) ?? 200;
}

/** RAINDROP_BENCH_MEMORY_N: the memory benchmark's mailbox sizes, comma-separated, smallest
 * first (default 10000,50000: issue 15 compares peak memory at these two). */
export function memoryBenchSizesSetting(env: Env = processEnv()): number[] {
  return list(env, 'RAINDROP_BENCH_MEMORY_N')?.map((s) => parsePositive('RAINDROP_BENCH_MEMORY_N', s)) ?? [10_000, 50_000];
}
