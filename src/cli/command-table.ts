import type { Command } from './command.js';

/** A command by name and what it does, loaded only when it runs. Each command's module
 * brings its own libraries (imapflow, nodemailer, better-sqlite3, the sandbox, ...):
 * loading every one of them made each run of any command about a second slower. */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

export const commandTable: readonly CommandEntry[] = [
  { name: 'init', summary: 'create the database and install design documents (safe to run again)', load: async () => (await import('./commands/init.js')).initCommand },
  { name: 'serve', summary: 'run the embedded CouchDB server (or use --couch) until stopped', load: async () => (await import('./commands/serve.js')).serveCommand },
  { name: 'status', summary: 'show the database and how many documents it holds per schema', load: async () => (await import('./commands/status.js')).statusCommand },
  { name: 'url', summary: 'print the URL of the CouchDB in use', load: async () => (await import('./commands/url.js')).urlCommand },
  { name: 'doctor', summary: 'check Node, native modules and the CouchDB server', load: async () => (await import('./commands/doctor.js')).doctorCommand },
  { name: 'ext', summary: 'list, check, try, remove, disable and enable extensions', load: async () => (await import('./commands/ext.js')).extCommand },
  { name: 'schema', summary: 'list, show, check against and migrate to the installed schemas', load: async () => (await import('./commands/schema.js')).schemaCommand },
  { name: 'process', summary: 'run the extensions until every one is at the head of the feed', load: async () => (await import('./commands/process.js')).processCommand },
  { name: 'reprocess', summary: 'run extensions again on their sources, even where up to date', load: async () => (await import('./commands/reprocess.js')).reprocessCommand },
  { name: 'unprocess', summary: 'remove what extensions derived, and their checkpoints (raw items stay)', load: async () => (await import('./commands/unprocess.js')).unprocessCommand },
  { name: 'errors', summary: 'count and list documents an extension failed on', load: async () => (await import('./commands/errors.js')).errorsCommand },
  { name: 'retry-errors', summary: 'run the failed documents again', load: async () => (await import('./commands/errors.js')).retryErrorsCommand },
  { name: 'import', summary: 'import mbox files, Maildir directories and .eml files', load: async () => (await import('./commands/import.js')).importCommand },
  { name: 'account', summary: 'add, list, remove and test mail accounts', load: async () => (await import('./commands/account.js')).accountCommand },
  { name: 'sync', summary: 'fetch mail from IMAP accounts and keep flags in step (--watch)', load: async () => (await import('./commands/sync.js')).syncCommand },
  { name: 'mark', summary: 'mark messages seen, unseen, flagged, archived or deleted (sent to the server by sync)', load: async () => (await import('./commands/mark.js')).markCommand },
  { name: 'show', summary: 'print what Raindrop derived for a message (by Message-ID)', load: async () => (await import('./commands/show.js')).showCommand },
  { name: 'search', summary: 'find messages by words, people, lists, dates and flags', load: async () => (await import('./commands/search.js')).searchCommand },
  { name: 'send', summary: 'write a message and send it (through the account\'s SMTP server)', load: async () => (await import('./commands/send.js')).sendCommand },
  { name: 'outbox', summary: 'outgoing mail and its state; retry, cancel, flush', load: async () => (await import('./commands/outbox.js')).outboxCommand },
  { name: 'user', summary: 'add or remove the web app\'s logins (members: read mail, write only user state)', load: async () => (await import('./commands/user.js')).userCommand },
  { name: 'worker', summary: 'run as one of several workers sharing a (clustered) CouchDB', load: async () => (await import('./commands/worker.js')).workerCommand },
];
