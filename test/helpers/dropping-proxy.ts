import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/**
 * A TCP relay in a process of its own that closes every open connection when told to,
 * while it keeps listening: what a server does to idle kept-alive sockets when its idle
 * timeout passes. A process of its own, because the fault only shows when the client's
 * event loop is busy at that moment, and a relay inside the test process would be
 * blocked with it.
 */
export interface DroppingProxy {
  readonly url: string;
  /** Resolves once every open connection is closed. */
  dropConnections(): Promise<void>;
  close(): Promise<void>;
}

const relay = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const sockets = new Set();
const server = net.createServer((client) => {
  const upstream = net.connect(port, host);
  for (const s of [client, upstream]) { sockets.add(s); s.on('error', () => {}); s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); }); }
  client.pipe(upstream).pipe(client);
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
process.stdin.setEncoding('utf8');
process.stdin.on('data', (line) => {
  if (line.startsWith('drop')) { for (const s of sockets) s.destroy(); process.stdout.write('dropped\\n'); }
});
process.stdin.on('end', () => process.exit(0));
`;

export async function startDroppingProxy(targetUrl: string): Promise<DroppingProxy> {
  const target = new URL(targetUrl);
  const child: ChildProcess = spawn(process.execPath, ['-e', relay, target.hostname, target.port || '80'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').filter(Boolean));
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async (prefix: string): Promise<string> => {
    for (;;) {
      const index = lines.findIndex((l) => l.startsWith(prefix));
      if (index >= 0) return lines.splice(index, 1)[0] as string;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const port = (await next('port ')).slice(5);
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = port;
  return {
    url: url.toString().replace(/\/$/, ''),
    async dropConnections() {
      child.stdin?.write('drop\n');
      await next('dropped');
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'close');
      child.stdin?.end();
      await exited;
    },
  };
}
