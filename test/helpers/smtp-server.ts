import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, type Server, type Socket, createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/**
 * A real SMTP server (smtp-server, from nodemailer's authors) on a loopback port, with
 * AUTH (PLAIN, LOGIN) required and STARTTLS on a certificate made for this run with
 * openssl (its own CA file: `caFile`). Faults a real server produces on command: a reply
 * code for the next DATA or RCPT (451, 550...), a pause before answering DATA. A relay in
 * front (`port`) can cut the connection in the middle of the next DATA, as a network does.
 */
export interface Received {
  messageId: string;
  bytes: Buffer;
  from: string;
  to: string[];
  user: string;
}

export interface TestSmtp {
  host: string;
  /** The relay's port: what clients use. */
  port: number;
  user: string;
  password: string;
  caFile: string;
  /** Messages the server accepted (answered 250 to DATA), in order. */
  received: Received[];
  /** How many times the server accepted a message with this Message-ID. */
  count(messageId: string): number;
  /** DATA commands that ended with a refusal or a cut connection. */
  refusedData: number;
  /** Bytes of DATA seen for messages that never completed (a cut connection). */
  partialData: number;
  /** Answers the next DATA (after reading the message) with this code and text. */
  failNextData(code: number, text: string, times?: number): void;
  failNextRcpt(code: number, text: string, times?: number): void;
  /** Cuts the next connection that sends more than `afterBytes` bytes in all (with a
   * message larger than that, in the middle of its DATA). */
  cutNextData(afterBytes: number): void;
  /** Keeps the next message (as a server that committed it) and closes the connection
   * instead of answering 250: the reply is lost, the client cannot know. */
  loseNextReply(): void;
  /** Waits this long before answering each DATA (to widen crash windows). */
  dataDelayMs: number;
  close(): Promise<void>;
}

export async function startTestSmtp(options: { user?: string; password?: string } = {}): Promise<TestSmtp> {
  const user = options.user ?? 'ann';
  const password = options.password ?? 'smtp-secret-42';
  const dir = await mkdtemp(join(tmpdir(), 'raindrop-smtp-'));
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const dataFaults: Array<{ code: number; text: string }> = [];
  const rcptFaults: Array<{ code: number; text: string }> = [];
  let cutAfter: number | undefined;
  let loseReply = false;
  const state = { refusedData: 0, partialData: 0, dataDelayMs: 0 };
  const received: Received[] = [];
  const idOf = (bytes: Buffer) => /^message-id:\s*<([^>\r\n]+)>/im.exec(bytes.subarray(0, Math.max(0, bytes.indexOf('\r\n\r\n'))).toString('latin1'))?.[1] ?? '';
  const fault = (f: { code: number; text: string }) => Object.assign(new Error(f.text), { responseCode: f.code });

  const smtp = new SMTPServer({
    secure: false,
    key: await readFile(keyFile),
    cert: await readFile(caFile),
    authMethods: ['PLAIN', 'LOGIN'],
    size: 60 * 1024 * 1024,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) callback(null, { user });
      else callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(_address, _session, callback) {
      const f = rcptFaults.shift();
      callback(f ? fault(f) : undefined);
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
      });
      stream.on('error', () => undefined);
      let finished = false;
      stream.on('end', () => {
        finished = true;
        const bytes = Buffer.concat(chunks);
        const f = dataFaults.shift();
        if (loseReply) {
          loseReply = false;
          received.push({ messageId: idOf(bytes), bytes, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), user: String(session.user ?? '') });
          const connections = (smtp as unknown as { connections: Set<{ id: string; _socket: Socket }> }).connections;
          for (const c of connections) if (c.id === session.id) c._socket.destroy();
          return;
        }
        setTimeout(() => {
          if (f) {
            state.refusedData++;
            callback(fault(f));
            return;
          }
          const id = idOf(bytes);
          received.push({ messageId: id, bytes, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), user: String(session.user ?? '') });
          callback(null, `OK queued as ${id.slice(0, 12)}`);
        }, state.dataDelayMs);
      });
      stream.on('close', () => {
        if (!finished) {
          state.partialData += size;
          state.refusedData++;
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    smtp.once('error', reject);
    smtp.listen(0, '127.0.0.1', () => resolve());
  });
  smtp.on('error', () => undefined);
  const backendPort = ((smtp as unknown as { server: Server }).server.address() as AddressInfo).port;

  // The relay: plain TCP both ways; counts bytes from the client after it sees "DATA".
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(backendPort, '127.0.0.1');
    // Without this, Nagle's algorithm and delayed ACKs add ~40 ms to every command round
    // trip through the relay: a test rig artefact no real network path has on loopback.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      // STARTTLS hides the commands; a message is the only thing this large.
      if (cutAfter !== undefined && sent > cutAfter) {
        cutAfter = undefined;
        drop();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
  const port = (relay.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    caFile,
    received,
    count: (id) => received.filter((r) => r.messageId === id).length,
    get refusedData() {
      return state.refusedData;
    },
    get partialData() {
      return state.partialData;
    },
    get dataDelayMs() {
      return state.dataDelayMs;
    },
    set dataDelayMs(ms: number) {
      state.dataDelayMs = ms;
    },
    failNextData(code, text, times = 1) {
      for (let i = 0; i < times; i++) dataFaults.push({ code, text });
    },
    failNextRcpt(code, text, times = 1) {
      for (let i = 0; i < times; i++) rcptFaults.push({ code, text });
    },
    cutNextData(afterBytes) {
      cutAfter = afterBytes;
    },
    loseNextReply() {
      loseReply = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
