import cliProgress from 'cli-progress';
import { RaindropError, errorCodes } from '../../core/index.js';
import { importPaths } from '../../protocols/import/import-messages.js';
import { SchemaRegistry } from '../../schema/registry.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

export const importCommand: Command = {
  name: 'import',
  help: `Usage: raindrop import PATH... [--json] [global options]

Imports mail into raw items, the same way IMAP sync stores it (one item per
Message-ID, so nothing is stored twice). PATH may be an mbox file, a Maildir directory
(with cur/ and new/), an .eml file, or a directory searched for any of these (where
files named as data, .json, .csv, .html and the like, are passed over and counted). Files
that are not mail are refused with the reason; the rest continues. Run "raindrop process"
(or keep "raindrop serve" running) to derive everything else.

Examples:
  raindrop import ~/Mail/archive.mbox
  raindrop import ~/Maildir ~/Downloads/*.eml --json`,
  options: {},
  async run(ctx, _values, paths) {
    if (paths.length === 0) throw new RaindropError(errorCodes.USAGE, 'raindrop import needs at least one PATH');
    const { server, db } = await openDatabase(ctx);
    let registry: SchemaRegistry;
    try {
      registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    } catch (err) {
      await server.release();
      throw err;
    }
    // A bar on a terminal; nothing on a pipe or with --json, where stdout is data.
    const bar = process.stderr.isTTY && !ctx.output.json
      ? new cliProgress.SingleBar({ format: 'importing {value} messages | {imported} new, {duplicate} duplicate, {refused} refused | {mb} MB', stream: process.stderr }, cliProgress.Presets.shades_classic)
      : undefined;
    bar?.start(0, 0, { imported: 0, duplicate: 0, refused: 0, mb: 0 });
    try {
      const summary = await importPaths(registry, db, paths, (p) => {
        bar?.setTotal(p.seen);
        bar?.update(p.seen, { imported: p.imported, duplicate: p.duplicate, refused: p.refused, mb: (p.bytes / 1e6).toFixed(1) });
      });
      bar?.stop();
      ctx.output.data(
        summary,
        [`imported ${summary.imported}, duplicate ${summary.duplicate}, refused ${summary.refused.length}${summary.skipped > 0 ? `, ${summary.skipped} files passed over as not mail by their names (.json and the like)` : ''} (${(summary.bytes / 1e6).toFixed(1)} MB)`, ...summary.refused.slice(0, 50).map((r) => `  refused ${r.origin}: ${r.reason}`), ...(summary.refused.length > 50 ? [`  ... and ${summary.refused.length - 50} more (--json lists all)`] : [])].join('\n'),
      );
      return exitCodes.ok;
    } finally {
      bar?.stop();
      await registry.close();
      await server.release();
    }
  },
};
