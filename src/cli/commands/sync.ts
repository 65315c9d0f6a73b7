import cliProgress from 'cli-progress';
import type { AccountSettings } from '../../config/index.js';
import { RaindropError, errorCodes } from '../../core/index.js';
import { useDatabase } from '../../couch/connect.js';
import { type AccountSummary, syncAccount } from '../../protocols/imap/sync-account.js';
import { watchAccount } from '../../protocols/imap/watch.js';
import { SchemaRegistry } from '../../schema/registry.js';
import type { Command, CommandContext } from '../command.js';
import { exitCodeFor, exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

/** "30d", "12h", "90m", "2w" -> milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+)\s*([mhdw])$/.exec(text.trim());
  if (!m) throw new RaindropError(errorCodes.USAGE, `--max-age takes a number and a unit (m, h, d, w), e.g. 30d; got "${text}"`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

export const syncCommand: Command = {
  name: 'sync',
  help: `Usage: raindrop sync [NAME...] [--folder F]... [--max-age 30d] [--watch] [--json]

Syncs the named accounts (default: every configured one): first sends your changes
(raindrop mark, the UI) to the server, then fetches new mail of every folder (INBOX,
Sent and Drafts first; Trash, Junk and All Mail skipped unless configured), newest first,
without marking anything read; mirrors flags and expunges. Safe to interrupt: the next
run continues where it stopped and never stores a message twice.

Options:
  --folder F     only this folder (repeatable)
  --max-age AGE  only mail younger than AGE (m, h, d, w: 30d); older mail is fetched by
                 a later sync without --max-age
  --watch        keep going: IDLE on INBOX, the other folders polled every 5 minutes;
                 reconnects with backoff; stops on Ctrl-C
  --json         a summary per account on stdout

Exit codes: 0 all accounts synced, 11 a server unreachable (dns, refused, tls, timeout),
12 a login refused, 3 an unknown account or missing password, 1 other failures.

Examples:
  raindrop sync
  raindrop sync work --folder INBOX --max-age 30d
  raindrop sync --watch`,
  options: { folder: { type: 'string', multiple: true }, 'max-age': { type: 'string' }, watch: { type: 'boolean' } },
  async run(ctx, values, positionals) {
    const configured = ctx.config.accounts;
    const names = positionals.length > 0 ? positionals : Object.keys(configured);
    if (names.length === 0) throw new RaindropError(errorCodes.ACCOUNT_UNKNOWN, 'no accounts configured; add one with "raindrop account add NAME --imap-host HOST --user USER"');
    const accounts: AccountSettings[] = names.map((n) => {
      const a = configured[n];
      if (!a) throw new RaindropError(errorCodes.ACCOUNT_UNKNOWN, `no account "${n}"; "raindrop account list" shows the accounts`);
      return a;
    });
    const folders = Array.isArray(values.folder) ? values.folder.map(String) : undefined;
    const maxAgeMs = typeof values['max-age'] === 'string' ? parseAge(values['max-age']) : undefined;
    const { server, db } = await openDatabase(ctx);
    try {
      const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
      try {
        if (!registry.get('rd.imap.folder-state')) throw new RaindropError(errorCodes.SCHEMA_UNKNOWN, `the database "${ctx.config.db}" lacks the sync schemas; run "raindrop init" first`);
        if (values.watch === true) {
          await Promise.all(accounts.map((account) => watchAccount({
            registry, db, account, logger: ctx.logger, folders, maxAgeMs, stop: ctx.stopRequested,
            onPass: (s) => ctx.logger.info(`${s.account}: ${s.result}, ${s.stored} new, ${s.flagUpdates} flag changes, ${s.expunged} expunged`, s.error ? { error: s.error.message } : {}),
          })));
          return exitCodes.ok;
        }
        const summaries: AccountSummary[] = [];
        for (const account of accounts) summaries.push(await runOne(ctx, registry, db, account, folders, maxAgeMs));
        ctx.output.data(
          { accounts: summaries },
          summaries.map((s) => `${s.account}: ${s.result === 'ok' ? 'ok' : `FAILED (${s.error?.reason}): ${s.error?.message}`} - ${s.folders.length} folders, ${s.fetched} fetched, ${s.stored} new, ${s.duplicates} already stored, ${s.refused} refused, ${(s.bytes / 1e6).toFixed(1)} MB, ${s.flagUpdates} flag changes, ${s.expunged} expunged, ${s.pushed} changes sent, ${s.seconds.toFixed(1)} s${s.seconds > 0 && s.fetched > 0 ? ` (${(s.fetched / s.seconds).toFixed(0)} msg/s)` : ''}`).join('\n'),
        );
        const failed = summaries.find((s) => s.result === 'failed');
        return failed ? exitCodeFor(failed.error?.code as never) : exitCodes.ok;
      } finally {
        await registry.close();
      }
    } finally {
      await server.release();
    }
  },
};

async function runOne(ctx: CommandContext, registry: SchemaRegistry, db: ReturnType<typeof useDatabase>, account: AccountSettings, folders: string[] | undefined, maxAgeMs: number | undefined): Promise<AccountSummary> {
  const tty = process.stderr.isTTY === true && !ctx.output.json;
  const bar = tty
    ? new cliProgress.SingleBar({ format: `${account.name} {folder} [{bar}] {value}/{total} msgs | {mb} MB | {rate} msg/s | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  let started = 0;
  let active = false;
  try {
    return await syncAccount({
      registry, db, account, logger: ctx.logger, folders, maxAgeMs, stop: ctx.stopRequested,
      onProgress: (p) => {
        if (!bar) return;
        if (!active || p.done === 0) {
          if (active) bar.stop();
          if (p.total === 0) {
            active = false;
            return;
          }
          bar.start(p.total, p.done, { folder: p.folder, mb: '0.0', rate: '0' });
          started = performance.now();
          active = true;
        }
        const secs = (performance.now() - started) / 1000;
        bar.update(p.done, { folder: p.folder, mb: (p.bytes / 1e6).toFixed(1), rate: secs > 0 ? (p.done / secs).toFixed(0) : '0' });
      },
    });
  } finally {
    if (active) bar?.stop();
  }
}
