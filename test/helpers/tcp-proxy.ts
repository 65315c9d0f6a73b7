import { type AddressInfo, type Server, type Socket, createServer, connect } from 'node:net';

/**
 * A TCP relay that a test can stop and start again on the same port: it makes "the
 * server went away" happen on demand for any server, embedded or a real CouchDB.
 */
export interface TcpProxy {
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Relays nothing more on the open connections, which stay open: what a client sees of
   * a server whose event loop is blocked (an index build on the embedded server). */
  freeze(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const sockets = new Set<Socket>();
  let frozen = false;
  let server: Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, target.hostname);
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        if (frozen) return;
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  const url = new URL(targetUrl);
  url.port = String(port);
  url.hostname = '127.0.0.1';
  const freeze = () => {
    frozen = true;
    for (const socket of sockets) {
      socket.unpipe();
      socket.pause();
    }
  };
  return { url: url.toString().replace(/\/$/, ''), stop, start: listen, freeze, close: stop };
}
