/**
 * Every number IMAP sync depends on, in one place, with the reason for each.
 */
export const imapLimits = {
  /** Connections per account. Gmail allows 15, some providers 5 or fewer, and the folders
   * of one account are synced one after another on one connection, so one is enough. */
  connectionsPerAccount: 1,
  /** Messages per fetch batch: big enough that the FETCH round trip and the CouchDB bulk
   * writes are amortised, small enough that a crash re-fetches little. */
  batchMessages: 200,
  /** Bytes per fetch batch: the batch is held in memory (raw bytes) until it is stored,
   * and the next batch is fetched meanwhile, so at most two batches (64 MB) are held even
   * for a folder of large attachments. A single larger message is fetched alone. */
  batchBytes: 32 * 1024 * 1024,
  /** UIDs per rd.imap.folder-uids chunk: the folder state is rewritten after every batch,
   * so the UID map is split; a batch rewrites one chunk of at most this many entries
   * (~60 KB), and reading a folder of 100,000 messages is a single request of 50 ids. */
  uidChunkSize: 2000,
  /** Largest message accepted from the server. Bigger literals are refused by imapflow
   * (the connection fails) rather than exhausting memory. */
  maxMessageBytes: 200 * 1024 * 1024,
  /** TCP + TLS connect budget: a dead host should fail fast in `account test`. */
  connectTimeoutMs: 15_000,
  /** Time for the server's greeting after connecting. */
  greetingTimeoutMs: 15_000,
  /** Inactivity on a command before the connection is considered dead. A 25 MB message on
   * a slow link still sends bytes continuously, so this only fires on a stalled server. */
  socketTimeoutMs: 120_000,
  /** Reconnect after a dropped connection: first pause, cap, and how many tries in a row
   * before the account's sync is reported as failed (watch mode keeps trying). */
  reconnectFirstMs: 500,
  reconnectMaxMs: 60_000,
  reconnectAttempts: 6,
  /** Watch mode: IDLE on INBOX is re-issued this often (RFC 9051 asks for < 29 min); the
   * other folders are polled at this interval. */
  idleRestartMs: 25 * 60_000,
  pollIntervalMs: 5 * 60_000,
  /** Time LOGOUT gets before the socket is simply closed: a server (or an IDLE being
   * broken at that moment) that never answers must not hold up a shutdown. */
  logoutTimeoutMs: 5_000,
  /** UIDs per STORE/MOVE command when sending the user's changes back. */
  pushBatch: 500,
} as const;
