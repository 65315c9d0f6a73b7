/**
 * Waiting on a process-long `stop` promise without piling up reactions on it.
 *
 * A reaction attached to a promise (`then`, or `Promise.race` with it) stays until the
 * promise settles; a `stop` promise settles once, at the end of a process that may run
 * for weeks. A loop that sleeps "a second, or until stop" with `Promise.race` would add a
 * reaction every second that is never freed (about 26 MB a day for a worker polling once
 * a second). Here each stop promise gets one reaction; waiters register in a set and
 * leave it when they are done.
 */
interface StopWatch {
  stopped: boolean;
  listeners: Set<() => void>;
}

const watches = new WeakMap<Promise<void>, StopWatch>();

function watchOf(stop: Promise<void>): StopWatch {
  let watch = watches.get(stop);
  if (!watch) {
    const created: StopWatch = { stopped: false, listeners: new Set() };
    void stop.then(() => {
      created.stopped = true;
      for (const listener of [...created.listeners]) listener();
      created.listeners.clear();
    });
    watches.set(stop, created);
    watch = created;
  }
  return watch;
}

/** Calls `listener` once when `stop` resolves (soon, if it already has). Returns the
 * function that unregisters it: call it when the listener is no longer wanted. */
export function onStop(stop: Promise<void>, listener: () => void): () => void {
  const watch = watchOf(stop);
  if (watch.stopped) {
    queueMicrotask(listener);
    return () => undefined;
  }
  watch.listeners.add(listener);
  return () => watch.listeners.delete(listener);
}

/** Resolves after `ms`, or as soon as `stop` resolves, whichever is first. The timer keeps
 * the process alive only with `keepAlive` (a loop whose sleep is all that is left to do). */
export function sleepUnlessStopped(ms: number, stop: Promise<void>, options: { keepAlive?: boolean } = {}): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      off();
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (options.keepAlive !== true) timer.unref();
    const off = onStop(stop, done);
  });
}

/** How many waiters are registered on `stop` (tests: a loop must not leave any behind). */
export function waitersOn(stop: Promise<void>): number {
  return watches.get(stop)?.listeners.size ?? 0;
}
