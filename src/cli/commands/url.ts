import { RaindropError, errorCodes, redactUrl } from '../../core/index.js';
import { useRunning } from '../../couch/open-server.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';

export const urlCommand: Command = {
  name: 'url',
  help: `Usage: raindrop url [--credentials] [--json] [global options]

Prints the URL of the configured CouchDB, or of the embedded server that a running
"raindrop serve" owns. Fails (exit code 6) when there is neither: it does not start a
server, since the URL would be dead when the command ends.

Options:
  --credentials   include the login in the URL (for curl and other tools);
                  treat the output as a secret

Examples:
  raindrop url
  curl "$(raindrop url --credentials)/raindrop"`,
  options: { credentials: { type: 'boolean' } },
  async run(ctx, values) {
    const withLogin = values.credentials === true;
    let url: string;
    let source: string;
    if (ctx.config.couchUrl !== undefined) {
      url = withLogin ? ctx.config.couchUrl : redactUrl(ctx.config.couchUrl);
      source = 'configured';
    } else {
      const running = await useRunning(ctx.config.dataDir);
      if (!running) {
        throw new RaindropError(
          errorCodes.NO_SERVER,
          `no CouchDB is configured and no embedded server runs for ${ctx.config.dataDir}; start one with "raindrop serve" or pass --couch URL`,
        );
      }
      const parsed = new URL(running.couch.url);
      if (withLogin && running.credentials) {
        parsed.username = encodeURIComponent(running.credentials.username);
        parsed.password = encodeURIComponent(running.credentials.password);
      }
      url = parsed.toString();
      source = 'embedded';
    }
    url = url.replace(/\/$/, '');
    ctx.output.data({ url, source, db: ctx.config.db }, url);
    return exitCodes.ok;
  },
};
