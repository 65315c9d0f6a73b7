import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Who made an attempt: host, process and a per-sender token, so a restarted sender (even
 * in the same process) never mistakes an old attempt for its own. */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * True when the attempt's sender certainly no longer runs: an earlier sender of this
 * process, or a process of this host that is gone. Another host's sender is only known
 * dead by the stale timeout (smtpLimits.attemptStaleMs).
 */
export function workerGone(worker: string, self: string): boolean {
  if (worker === self) return false;
  const [host, pidText] = worker.split(':');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid)) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
