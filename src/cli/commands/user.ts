import { readFile } from 'node:fs/promises';
import { RaindropError, errorCodes } from '../../core/index.js';
import type { Couch } from '../../couch/connect.js';
import { callCouch } from '../../couch/connect.js';
import { statusOf } from '../../couch/couch-error.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { installDatabase } from '../install.js';
import { readSecret } from './account.js';

/** The role the web app's logins carry; the database's _security names it as member. */
export const memberRole = 'raindrop';
const namePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;

async function request<T>(couch: Couch, what: string, params: { db: string; doc?: string; path?: string; method?: string; body?: unknown; qs?: Record<string, string> }): Promise<T | undefined> {
  return callCouch(couch, what, async () => {
    try {
      return (await couch.server.request(params)) as T;
    } catch (err) {
      if (statusOf(err) === 404 && (params.method ?? 'GET') === 'GET') return undefined;
      throw err;
    }
  });
}

/** Adds the member role to the database's _security (keeping whatever else it says). */
async function grantDatabase(couch: Couch, db: string): Promise<void> {
  const sec = (await request<{ admins?: { names?: string[]; roles?: string[] }; members?: { names?: string[]; roles?: string[] } }>(couch, `reading the _security of "${db}"`, { db, path: '_security' })) ?? {};
  const roles = sec.members?.roles ?? [];
  if (roles.includes(memberRole)) return;
  // CouchDB 3 makes new databases admin-only by naming "_admin" as member role; keep it.
  const next = { admins: sec.admins ?? { names: [], roles: ['_admin'] }, members: { names: sec.members?.names ?? [], roles: [...new Set([...roles, '_admin', memberRole])] } };
  await request(couch, `granting "${db}" to the role ${memberRole}`, { db, path: '_security', method: 'PUT', body: next });
}

export const userCommand: Command = {
  name: 'user',
  help: `Usage: raindrop user add NAME [--password-file FILE]
       raindrop user remove NAME

Creates a login for the web app with least privilege: a CouchDB user (in _users) with the
role "${memberRole}", which the mail database's _security names as member, so it can read
the mail; its validate_doc_update (installed by init) lets it write only user-state items
(read, flagged, archived, deleted, sender verdicts, drafts and outgoing mail), never
extensions, schemas or derived items. The embedded server enforces the same. Run again
to change the password. The password is typed at the prompt (or read from the first line
of --password-file).

Examples:
  raindrop user add ann
  raindrop user add ann --password-file ~/.ann-pw`,
  options: { 'password-file': { type: 'string' } },
  async run(ctx, values, positionals) {
    const [action, name, ...extra] = positionals;
    if ((action !== 'add' && action !== 'remove') || name === undefined || extra.length > 0) throw new RaindropError(errorCodes.USAGE, 'use "raindrop user add NAME" or "raindrop user remove NAME"');
    if (!namePattern.test(name)) throw new RaindropError(errorCodes.USAGE, `"${name}" is not a user name Raindrop accepts: lower-case letters, digits, . _ -`);
    const server = await ctx.openServer();
    try {
      const couch = server.couch;
      const doc = `org.couchdb.user:${name}`;
      const existing = await request<{ _rev?: string }>(couch, `reading the user "${name}"`, { db: '_users', doc });
      if (action === 'remove') {
        if (!existing) throw new RaindropError(errorCodes.USAGE, `there is no user "${name}"`);
        await request(couch, `removing the user "${name}"`, { db: '_users', doc, method: 'DELETE', ...(existing._rev ? { qs: { rev: existing._rev } } : {}) });
        ctx.output.data({ user: name, removed: true }, `removed the login "${name}"`);
        return exitCodes.ok;
      }
      const file = typeof values['password-file'] === 'string' ? values['password-file'] : undefined;
      const password = file !== undefined ? ((await readFile(file, 'utf8')).split(/\r?\n/)[0] ?? '') : await readSecret(`password for ${name}: `);
      if (password.length < 8) throw new RaindropError(errorCodes.USAGE, 'the password needs at least 8 characters');
      // The database and its validate_doc_update first: never grant access to a database
      // that does not guard its writes yet.
      await installDatabase(couch, ctx.config.db, ctx.config.extensions, ctx.logger);
      await request(couch, `writing the user "${name}"`, { db: '_users', doc, method: 'PUT', body: { _id: doc, ...(existing?._rev ? { _rev: existing._rev } : {}), name, password, roles: [memberRole], type: 'user' } });
      await grantDatabase(couch, ctx.config.db);
      ctx.output.data({ user: name, role: memberRole, db: ctx.config.db, created: !existing }, `${existing ? 'updated' : 'created'} the login "${name}" (role ${memberRole}, member of "${ctx.config.db}"); log in with it in the web app`);
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};
