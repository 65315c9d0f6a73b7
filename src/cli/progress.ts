import cliProgress from 'cli-progress';
import type { BatchStats } from '../queue/process-batch.js';

export interface QueueProgress {
  /** One feed batch done. */
  batch(changes: number, stats: BatchStats): void;
  stop(): void;
}

/** How often a progress line is written when stderr is not a terminal (a log file, CI):
 * rare enough that a long run is a handful of lines, often enough to show it is alive. */
const notTtyEveryMs = 30_000;

/**
 * The one progress line of `raindrop process` (cli-progress: a bar redrawn in place on a
 * terminal, an occasional plain line otherwise), on stderr so stdout stays data. The
 * total is the changes the lanes had to read at the start; work that arrives meanwhile
 * raises it.
 */
export function startQueueProgress(total: number, stream: NodeJS.WriteStream = process.stderr): QueueProgress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'processing {bar} {value}/{total} changes | {ran} runs, {failed} failed, {written} written | {duration_formatted}',
      hideCursor: stream.isTTY === true,
      clearOnComplete: true,
      noTTYOutput: stream.isTTY !== true,
      notTTYSchedule: notTtyEveryMs,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const totals = { ran: 0, failed: 0, written: 0 };
  let value = 0;
  let max = Math.max(1, total);
  // Not on a terminal (a log, CI), a short run prints no progress at all, only the
  // summary; a long one a line now and then.
  const startedAt = Date.now();
  let shown = false;
  const show = () => {
    if (shown || (stream.isTTY !== true && Date.now() - startedAt < notTtyEveryMs)) return;
    shown = true;
    max = Math.max(max, value);
    bar.start(max, value, totals);
  };
  show();
  return {
    batch(changes, stats) {
      value += changes;
      totals.ran += stats.ran;
      totals.failed += stats.failed;
      totals.written += stats.written;
      show();
      if (!shown) return;
      if (value > max) {
        max = value;
        bar.setTotal(max);
      }
      bar.update(value, totals);
    },
    stop() {
      if (shown) bar.stop();
    },
  };
}
