import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { installDatabase } from '../install.js';

export const initCommand: Command = {
  name: 'init',
  summary: 'create the database and install design documents (safe to run again)',
  help: `Usage: raindrop init [global options]

Creates the database (default "raindrop") if it is missing and installs what Raindrop
ships into it. Running it again changes only what changed.

Examples:
  raindrop init
  raindrop init --couch http://admin:secret@127.0.0.1:5984 --db mail`,
  options: {},
  async run(ctx) {
    const server = await ctx.openServer();
    try {
      const report = await installDatabase(server.couch, ctx.config.db, ctx.config.extensions, ctx.logger);
      const ext = report.extensions;
      ctx.output.data(
        { ...report, server: server.couch.url },
        [
          `database "${report.db}" ${report.created ? 'created' : 'already existed'} on ${server.couch.url}`,
          `design docs: ${report.designDocs.written.length} written, ${report.designDocs.unchanged.length} unchanged`,
          `schemas: ${report.schemas.installed.length} installed (${report.schemas.installed.filter((x) => x.written).length} changed), ${report.schemas.refused.length} refused`,
          ...report.schemas.refused.map((r) => `  refused schema ${r.id}:\n    ${r.problems.join('\n    ')}`),
          `extensions: ${ext.installed.length} installed (${ext.installed.filter((e) => e.written).length} changed), ${ext.refused.length} refused, ${ext.removed.length} removed`,
          ...ext.refused.map((r) => `  refused ${r.origin}:\n    ${r.problems.join('\n    ')}`),
        ].join('\n'),
      );
      if (report.schemas.refused.length > 0) return exitCodes.schemaInvalid;
      return ext.refused.length > 0 ? exitCodes.extensionInvalid : exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};
