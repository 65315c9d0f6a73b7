import { readdir, readFile } from 'node:fs/promises';

/**
 * Peak memory of a benchmark: this process, and its children (the sandbox pool; the
 * embedded server), read from /proc while the benchmark runs.
 */

interface ChildInfo {
  pid: number;
  role: 'sandbox' | 'server' | 'other';
}

async function childrenOf(parent: number): Promise<ChildInfo[]> {
  const out: ChildInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      out.push({ pid: Number(name), role: cmdline.includes('pool-process') ? 'sandbox' : cmdline.includes('server-process') ? 'server' : 'other' });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** VmRSS / VmHWM / RssAnon (resident memory not backed by a file) of a process, in
 * bytes; undefined when it is gone. */
async function procMemory(pid: number): Promise<{ rss: number; hwm: number; anon: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon') };
  } catch {
    return undefined;
  }
}

export interface MemoryPeaks {
  rss: number;
  heapUsed: number;
  sandboxRss: number;
  /** VmHWM of the sandbox child just before it stops: its true peak (it is started per run). */
  sandboxHwm: number;
  serverRss: number;
  /** The server's peak RssAnon: its RSS without the file pages LevelDB maps (the kernel
   * can drop those under pressure), to tell the two apart. */
  serverAnon: number;
  samples: number;
}

/** Samples every 100 ms; the children are looked up again every second (a restarted
 * sandbox process has a new pid). */
export function startMemorySampler(sampleEveryMs = 100): { stop(): Promise<MemoryPeaks> } {
  const peaks: MemoryPeaks = { rss: 0, heapUsed: 0, sandboxRss: 0, sandboxHwm: 0, serverRss: 0, serverAnon: 0, samples: 0 };
  let children: ChildInfo[] = [];
  let lastScan = 0;
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      const mem = process.memoryUsage();
      peaks.rss = Math.max(peaks.rss, mem.rss);
      peaks.heapUsed = Math.max(peaks.heapUsed, mem.heapUsed);
      if (Date.now() - lastScan > 1000) {
        children = await childrenOf(process.pid);
        lastScan = Date.now();
      }
      for (const child of children) {
        const m = await procMemory(child.pid);
        if (!m) continue;
        if (child.role === 'sandbox') {
          peaks.sandboxRss = Math.max(peaks.sandboxRss, m.rss);
          peaks.sandboxHwm = Math.max(peaks.sandboxHwm, m.hwm);
        } else if (child.role === 'server') {
          peaks.serverRss = Math.max(peaks.serverRss, m.rss);
          peaks.serverAnon = Math.max(peaks.serverAnon, m.anon);
        }
      }
      peaks.samples++;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void sample(), sampleEveryMs);
  void sample();
  return {
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 5));
      lastScan = 0;
      await sample();
      return peaks;
    },
  };
}
