import { describe, expect, it } from 'vitest';
import { cascadeMessagesSetting, clusterBenchMessagesSetting, queueBenchSizesSetting, searchBenchMessagesSetting, webBenchMessagesSetting } from '../../src/config/index.js';

describe('benchmark settings', () => {
  it('take their defaults when unset or empty', () => {
    expect(searchBenchMessagesSetting({})).toBe(15_000);
    expect(clusterBenchMessagesSetting({ RAINDROP_BENCH_CLUSTER_N: '' })).toBe(200);
    expect(webBenchMessagesSetting({})).toBe(15_000);
    expect(cascadeMessagesSetting({})).toBeUndefined();
  });

  it('read a positive integer', () => {
    expect(searchBenchMessagesSetting({ RAINDROP_BENCH_SEARCH_MESSAGES: '500' })).toBe(500);
    expect(clusterBenchMessagesSetting({ RAINDROP_BENCH_CLUSTER_N: '30' })).toBe(30);
    expect(queueBenchSizesSetting({ RAINDROP_BENCH_QUEUE_N: '10, 20' })).toEqual([10, 20]);
  });

  it('refuse a value that cannot be right, naming the variable, instead of running another size', () => {
    expect(() => searchBenchMessagesSetting({ RAINDROP_BENCH_SEARCH_MESSAGES: '15k' })).toThrow(/RAINDROP_BENCH_SEARCH_MESSAGES must be a positive integer, not "15k"/);
    expect(() => clusterBenchMessagesSetting({ RAINDROP_BENCH_CLUSTER_N: '0' })).toThrow(/RAINDROP_BENCH_CLUSTER_N/);
    expect(() => webBenchMessagesSetting({ RAINDROP_BENCH_WEB_N: '-3' })).toThrow(/RAINDROP_BENCH_WEB_N/);
    expect(() => queueBenchSizesSetting({ RAINDROP_BENCH_QUEUE_N: '10,x' })).toThrow(/RAINDROP_BENCH_QUEUE_N/);
  });
});
