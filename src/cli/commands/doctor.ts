import { createRequire } from 'node:module';
import { serverInfo } from '../../couch/server-info.js';
import { isolatedVmPackage, sandboxInstallAdvice } from '../../sandbox/isolated-vm.js';
import { openSqlite } from '../../search/sqlite.js';
import type { Command, CommandContext } from '../command.js';
import { exitCodes } from '../exit-codes.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Native modules Raindrop loads; a missing build shows up here, not mid-sync. The
 * sandbox's package depends on the Node version (see sandbox/isolated-vm.ts). */
const nativeModules = () => ['leveldown', isolatedVmPackage()];
const minimumNode = [20, 19] as const;

export const doctorCommand: Command = {
  name: 'doctor',
  help: `Usage: raindrop doctor [--no-server] [--json] [global options]

Checks the Node.js version, that native modules load, that search's SQLite (FTS5)
works, and that CouchDB answers (the
configured one, or the embedded server, started for the check if none runs). Exit code 8
when a check fails.

  --no-server  check Node and the native modules only (npm ci runs this, so a sandbox
               that failed to build stops the install instead of the first start)

Examples:
  raindrop doctor
  raindrop doctor --couch http://admin:secret@127.0.0.1:5984 --json`,
  options: { 'no-server': { type: 'boolean' } },
  async run(ctx, values) {
    const checks: Check[] = [];
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const nodeOk = major > minimumNode[0] || (major === minimumNode[0] && minor >= minimumNode[1]);
    checks.push({ name: 'node', ok: nodeOk, detail: `Node ${process.versions.node}${nodeOk ? '' : `; Raindrop needs ${minimumNode.join('.')} or later`}` });
    const require = createRequire(import.meta.url);
    for (const name of nativeModules()) {
      try {
        require(name);
        checks.push({ name: `native module ${name}`, ok: true, detail: 'loads' });
      } catch (err) {
        const advice = name === isolatedVmPackage() ? sandboxInstallAdvice() : `run "npm rebuild ${name}" and check that package.json's allowScripts lists it`;
        checks.push({ name: `native module ${name}`, ok: false, detail: `does not load (${(err as Error).message.split('\n')[0]}); ${advice}` });
      }
    }
    checks.push(checkSearchEngine());
    if (values['no-server'] !== true) await checkServer(ctx, checks);
    const ok = checks.every((c) => c.ok);
    ctx.output.data({ ok, checks }, checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`).join('\n'));
    return ok ? exitCodes.ok : exitCodes.checkFailed;
  },
};

/** Search needs SQLite with FTS5: node:sqlite on Node 22.13+, better-sqlite3 (built at
 * install, an optional dependency) on Node 20. */
function checkSearchEngine(): Check {
  try {
    const { db, binding } = openSqlite(':memory:');
    try {
      db.exec('CREATE VIRTUAL TABLE probe USING fts5(text)');
    } finally {
      db.close();
    }
    return { name: 'search engine', ok: true, detail: `SQLite FTS5 through ${binding}` };
  } catch (err) {
    return { name: 'search engine', ok: false, detail: (err as Error).message };
  }
}

async function checkServer(ctx: CommandContext, checks: Check[]): Promise<void> {
  try {
    const server = await ctx.openServer();
    try {
      const info = await serverInfo(server.couch);
      checks.push({ name: 'couchdb', ok: true, detail: `${server.couch.url} answers: ${info.vendor} ${info.version} (${server.source})` });
    } finally {
      await server.release();
    }
  } catch (err) {
    checks.push({ name: 'couchdb', ok: false, detail: (err as Error).message });
  }
}
