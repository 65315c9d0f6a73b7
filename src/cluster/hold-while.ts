import { type Logger, sleepUnlessStopped } from '../core/index.js';
import type { ClusterMember } from './member.js';


/**
 * Runs `work` only while this worker holds the lease `name` (the sender, a mail
 * account): started when the lease is taken, stopped when it is lost or wanted by
 * another worker, released by the member once `work` has returned (it is `busy` until
 * then). Returns when `stop` resolves and `work` has returned.
 */
export async function runWhileHeld(member: ClusterMember, name: string, stop: Promise<void>, logger: Logger, work: (stop: Promise<void>) => Promise<void>): Promise<void> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    if (!member.holds(name) || member.unwanted.has(name)) {
      await sleepUnlessStopped(Math.min(1000, member.timing.heartbeatMs), stop);
      continue;
    }
    member.busy.add(name);
    let timer: NodeJS.Timeout | undefined;
    const lost = new Promise<void>((resolve) => {
      timer = setInterval(() => {
        if (!member.holds(name) || member.unwanted.has(name)) resolve();
      }, 250);
    });
    try {
      await work(Promise.race([stop, lost]));
    } catch (err) {
      logger.error(`${name} stopped; trying again in 5 s`, { error: (err as Error).message });
      await sleepUnlessStopped(5000, stop);
    } finally {
      clearInterval(timer);
      member.busy.delete(name);
    }
  }
}
