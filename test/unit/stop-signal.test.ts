import { describe, expect, it } from 'vitest';
import { onStop, sleepUnlessStopped, waitersOn } from '../../src/core/index.js';

describe('waiting on a stop promise', () => {
  it('leaves nothing registered after sleeps that ran out (a loop polling for weeks)', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    for (let i = 0; i < 200; i++) await sleepUnlessStopped(0, stopped);
    expect(waitersOn(stopped)).toBe(0);
    const off = onStop(stopped, () => undefined);
    expect(waitersOn(stopped)).toBe(1);
    off();
    expect(waitersOn(stopped)).toBe(0);
    stop();
  });

  it('wakes a long sleep at once when stop comes, and every later sleep too', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const started = Date.now();
    const sleeping = sleepUnlessStopped(60_000, stopped, { keepAlive: true });
    const calls: string[] = [];
    onStop(stopped, () => calls.push('listener'));
    setTimeout(stop, 20);
    await sleeping;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(calls).toEqual(['listener']);
    await sleepUnlessStopped(60_000, stopped);
    await new Promise<void>((r) => onStop(stopped, r)); // registered after the stop: still called
    expect(waitersOn(stopped)).toBe(0);
  });
});
