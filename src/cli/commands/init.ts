import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { installDatabase } from '../install.js';

export const initCommand: Command = {
  name: 'init',
  help: `Usage: raindrop init [global options]

Creates the database (default "raindrop") if it is missing and installs what Raindrop
ships into it: design documents, schemas, built-in extensions. With --extensions DIR it
installs your extensions from DIR too (each .js file, and the <schema id>.json files of
the schemas they emit); the database records the directory, so later runs of init,
serve and process keep it installed and pick up edits without the flag. Running it
again changes only what changed; removing an extension is "raindrop ext remove ID".

Examples:
  raindrop init
  raindrop init --extensions my-extensions
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
          ...ext.directories.map((d) => `  your directory ${d} (kept installed by init, serve and process)`),
          ...(ext.schemas.installed.length > 0 ? [`  their schemas: ${ext.schemas.installed.map((s) => `${s.id} v${s.version}${s.written ? ' (changed)' : ''}`).join(', ')}`] : []),
          ...ext.kept.map((k) => `  ${k.id} stays installed with its stored code: ${k.reason} (${k.file}); "raindrop ext remove ${k.id}" removes it`),
        ].join('\n'),
      );
      if (report.schemas.refused.length > 0) return exitCodes.schemaInvalid;
      return ext.refused.length > 0 ? exitCodes.extensionInvalid : exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};
