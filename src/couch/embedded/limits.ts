/**
 * Every number the embedded server runs by, with the reason for its value. Kept in one
 * place so that tuning one (a slow disk, a flaky machine) does not mean hunting for it.
 */

/** The only interface the server listens on: it holds someone's mail. */
export const EMBEDDED_HOST = '127.0.0.1';

/**
 * How long a child may take from fork to listening. Loading express and opening LevelDB
 * takes well under a second on a laptop; an SD card or a loaded CI machine can be ten
 * times slower. Beyond this something is wrong, not slow.
 */
export const READY_TIMEOUT_MS = 30_000;

/**
 * How long a child gets to close its sockets after being asked to stop before it is
 * killed. Killing is safe (LevelDB hands every write to the OS before answering), so
 * this only bounds how long a shutdown can hang.
 */
export const STOP_TIMEOUT_MS = 5_000;

/** First wait before restarting a crashed child: long enough to let its port be freed. */
export const RESTART_BACKOFF_INITIAL_MS = 200;

/** The wait doubles per recent crash up to this, so clients see at most a short gap. */
export const RESTART_BACKOFF_MAX_MS = 5_000;

/**
 * More crashes than this within RESTART_WINDOW_MS means the fault is not one bad request
 * but something permanent (a corrupt database, a full disk): restarting forever would only
 * hide it, so the supervisor gives up and reports it.
 */
export const RESTART_BUDGET = 5;
export const RESTART_WINDOW_MS = 60_000;

/** How much of a child's stderr is kept to explain a failure; a stack trace fits. */
export const STDERR_TAIL_BYTES = 8_192;

/**
 * How long to wait for the owner of a server record to publish its URL. It publishes it
 * once its child is ready, so this is the child's start-up time plus a margin.
 */
export const RECORD_URL_WAIT_MS = READY_TIMEOUT_MS + 5_000;

/** Polling interval while waiting on another process's server record. */
export const RECORD_POLL_MS = 100;

/**
 * A record that cannot be parsed is normally one being written right now (create, then
 * write). One still unreadable after this long was left by a crash between the two.
 */
export const RECORD_UNPARSABLE_GRACE_MS = 5_000;

/** How long `GET /` on a recorded URL may take before the server counts as not answering. */
export const LIVE_PROBE_TIMEOUT_MS = 2_000;

/**
 * Lifetime of an AuthSession cookie. Each authenticated request renews it once
 * SESSION_REFRESH_FRACTION of it has passed (as CouchDB does), so an open web app stays
 * logged in while an abandoned one is logged out within the hour.
 */
export const SESSION_TIMEOUT_S = 60 * 60;
export const SESSION_REFRESH_FRACTION = 0.1;

/** A login body is a name and a password; anything bigger is not a login. */
export const SESSION_BODY_LIMIT_BYTES = 4_096;

/**
 * Request bodies. The server buffers a body whole before it handles it (express-pouchdb
 * parses JSON and attachments in memory, LevelDB then copies them again), so an unbounded
 * body was a way to kill it: 200 MB aborted it with V8 out of memory. Bodies are checked
 * against these numbers from their Content-Length before a byte is read, and a body
 * without one (chunked) is refused with 411, since it could not be checked in advance.
 */

/**
 * A JSON body (documents, `_bulk_docs`, queries). Raindrop's biggest is a store batch of
 * up to 32 MB of raw mail (imapLimits.batchBytes, importLimits.batchBytes) with inline
 * attachments of at most 256 KB each as base64 (+33%): about 43 MB. Parsed, such a body
 * costs the server a few times its size, which stays in the hundreds of MB.
 */
export const EMBEDDED_MAX_JSON_BODY_BYTES = 64 * 1024 * 1024;

/**
 * One document written on its own (`PUT /db/doc`, `POST /db`): CouchDB's default
 * max_document_size, so that what the embedded server stores a CouchDB would store too.
 * Raindrop's own documents are far smaller (inline attachments stop at 256 KB).
 */
export const EMBEDDED_MAX_DOCUMENT_BYTES = 8_000_000;

/**
 * One attachment uploaded on its own (`PUT /db/doc/name`): how raw messages over 256 KB
 * are stored. PouchDB holds such an upload many times over while it stores it (measured:
 * a 10 MB attachment took the server from 74 MB to 440 MB, 25 MB to 860 MB, 50 MB to
 * 2.5 GB and 35 s). The big providers let anyone send 25 MB of attachments, and so
 * does rd.ext.outgoing; base64 makes that a message of about 34 MB, which a user's own
 * sent mail must be able to be. So 36 MB: room for such a message and its headers, and
 * well below the size where the server's memory runs away.
 */
export const EMBEDDED_MAX_ATTACHMENT_BYTES = 36 * 1024 * 1024;

/**
 * Documents in one `_bulk_docs`. LevelDB writes one request's documents one after the
 * other while every other request waits: 100,000 documents blocked the server for over a
 * minute, 2,000 take about a second. Raindrop's own biggest bulk request is 2,000
 * documents (store-raw.ts combinedMaxDocs); the queue writes 500 at a time.
 */
export const EMBEDDED_MAX_BULK_DOCS = 2_000;

/**
 * A bulk request is written in slices of this many documents, with other requests
 * answered between slices: a slice takes tens of milliseconds, so a big import does not
 * hold up the web app or the queue for the whole request.
 */
export const EMBEDDED_BULK_SLICE_DOCS = 250;

/**
 * How long the server keeps an idle client connection open. Clients close their idle
 * connections just before the time the server announces; with Node's default (5 s) a
 * client busy for a moment (starting the sandbox, a loaded machine) could send on a
 * socket the server was closing at that instant ("other side closed"). Commands do pause
 * for seconds between requests, rarely for half a minute.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;

/**
 * A body the server refuses (too large, code it will not run) is answered at once and
 * then still read and dropped, up to this size: a client that is still sending when the socket
 * closes sees only "connection reset", never the server's 413 and its reason (an import
 * of one over-large message then failed as "could not reach CouchDB" instead of refusing
 * that message and going on). Reading and dropping 256 MB on loopback takes about a
 * second; a bigger declared body is cut off unread.
 */
export const EMBEDDED_MAX_REFUSED_BODY_DRAIN_BYTES = 256 * 1024 * 1024;

/** How long the server waits for a refused body to arrive before it closes the
 * connection anyway (a client that stalls must not hold a socket). */
export const EMBEDDED_REFUSED_BODY_DRAIN_MS = 30_000;

/**
 * LevelDB (leveldown) options of every database the server opens: the data, each view
 * index, the list of databases. They bound the server's memory whatever the mailbox size.
 *
 * Open table files: LevelDB maps each open table file (2 MB each) into memory, up to
 * 1,000 per process, and keeps up to `maxOpenFiles` - 10 of them open per database. Every
 * page a read touches stays in the server's resident memory while the file is open, so
 * with the default (1,000) the server's RSS grew with the database: on the memory
 * benchmark 107 MB of mapped tables at 95 files, 165 MB at 143 (openwrt-devel, 12,000
 * messages), and about 2.3 GB at 50,000 messages. 74 is LevelDB's smallest accepted
 * value (it raises anything lower to it): 64 tables open, about 130 MB mapped per
 * database at most (measured: 58 of 75 table files mapped after reading them all, against
 * 81 of 81 with the default). A read in a table not open costs an open and a read of its
 * index, from the page cache.
 */
export const EMBEDDED_LEVELDB_MAX_OPEN_FILES = 74;

/** LevelDB's block cache per database (leveldown's default, 8 MB): decompressed blocks
 * read without a memory map; fixed here so that the total stays known. */
export const EMBEDDED_LEVELDB_CACHE_BYTES = 8 * 1024 * 1024;

/** LevelDB's write buffer per database (leveldown's default, 4 MB): at most two of them
 * (one being written to disk) per database. */
export const EMBEDDED_LEVELDB_WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
