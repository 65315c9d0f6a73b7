import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { RaindropError, docIdFor, errorCodes } from '../../core/index.js';
import { useDatabase } from '../../couch/connect.js';
import type { CouchDoc } from '../../couch/documents.js';
import { topLevelFields } from '../../couch/schema-items/merge.js';
import { removeSchemaItem } from '../../couch/schema-items/write-schema-item.js';
import { unprocess } from '../../queue/maintenance.js';
import { SchemaRegistry, schemaSchemaId } from '../../schema/registry.js';
import { writeValidatedItem } from '../../schema/validated-write.js';
import type { CommandContext } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extensionSchemaId, installedExtensions } from '../install-extensions.js';
import { openDatabase } from '../open-database.js';

function findInstalled(docs: readonly CouchDoc[], id: string | undefined, verb: string): CouchDoc {
  if (id === undefined) throw new RaindropError(errorCodes.USAGE, `usage: raindrop ext ${verb} ID (see "raindrop ext list")`);
  const doc = docs.find((d) => d.id === id);
  if (!doc) {
    throw new RaindropError(errorCodes.USAGE, `no extension "${id}" is installed; installed: ${docs.map((d) => String(d.id)).sort().join(', ') || 'none'}`);
  }
  return doc;
}

/** `ext enable` / `ext disable`: a disabled extension stays installed (and keeps what it
 * derived) but the queue does not run it; enabled again, it catches up from where it
 * stopped. A re-install keeps the choice. */
export async function setEnabled(ctx: CommandContext, id: string | undefined, enabled: boolean): Promise<number> {
  const { server, db } = await openDatabase(ctx);
  try {
    const doc = findInstalled(await installedExtensions(db), id, enabled ? 'enable' : 'disable');
    const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    try {
      const outcome = await writeValidatedItem(registry, db, {
        key: ['ext', String(doc.id)],
        schemaId: extensionSchemaId,
        writer: 'core.init',
        category: 'provider',
        source: null,
        fields: { ...topLevelFields(doc), enabled },
      });
      ctx.output.data(
        { id: doc.id, enabled, changed: outcome.written },
        `${String(doc.id)} ${outcome.written ? 'is now' : 'was already'} ${enabled ? 'enabled' : 'disabled'}${enabled ? '' : ' (what it derived stays; "raindrop ext remove" removes it)'}`,
      );
      return exitCodes.ok;
    } finally {
      await registry.close();
    }
  } finally {
    await server.release();
  }
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * `ext remove`: removes what the extension derived (outputs, errors, provenance,
 * later_handler outputs, checkpoint), then the extension itself, then the schemas its
 * directory brought that no other installed extension emits. Built-ins cannot be
 * removed (init installs them again): they can be disabled.
 */
export async function removeExtension(ctx: CommandContext, id: string | undefined): Promise<number> {
  const { server, db } = await openDatabase(ctx);
  try {
    const docs = await installedExtensions(db);
    const doc = findInstalled(docs, id, 'remove');
    const extId = String(doc.id);
    if (typeof doc.directory !== 'string') {
      throw new RaindropError(errorCodes.USAGE, `${extId} is built in: "raindrop init" would install it again. "raindrop ext disable ${extId}" stops it, and "raindrop unprocess --ext ${extId}" removes what it derived`);
    }
    const file = join(doc.directory, String(doc.file));
    const siblings = docs.filter((d) => d !== doc && d.directory === doc.directory);
    const configured = ctx.config.extensions.includes(doc.directory);
    if ((siblings.length > 0 || configured) && (await exists(file))) {
      const why = configured ? 'is in your --extensions / RAINDROP_EXTENSIONS / config file' : `stays installed for ${siblings.map((d) => String(d.id)).join(', ')}`;
      throw new RaindropError(
        errorCodes.USAGE,
        `${file} is still in ${doc.directory}, which ${why}: the next init or serve would install ${extId} again. Move or delete the file first, then run this again; or keep the file and run "raindrop ext disable ${extId}"`,
      );
    }
    const { removed } = await unprocess({ db }, [extId]);
    await removeSchemaItem(db, doc._id, 'core.init');
    const stillEmitted = new Set(docs.filter((d) => d !== doc).flatMap((d) => (d.emits as string[]) ?? []));
    const schemas = ((doc.schemas as string[] | undefined) ?? []).filter((s) => !stillEmitted.has(s));
    for (const schema of schemas) await removeSchemaItem(db, docIdFor(['schema', schema], schemaSchemaId), 'core.init');
    ctx.output.data(
      { id: extId, derivedRemoved: removed, schemasRemoved: schemas, directory: doc.directory },
      [
        `removed ${extId}: ${removed} derived documents changed or removed${schemas.length > 0 ? `, schema${schemas.length > 1 ? 's' : ''} ${schemas.join(', ')} uninstalled` : ''}`,
        ...(siblings.length === 0 ? [`${doc.directory} is no longer installed`] : []),
      ].join('\n'),
    );
    return exitCodes.ok;
  } finally {
    await server.release();
  }
}
