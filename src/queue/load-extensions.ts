import { type Logger } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import { listByKeyType } from '../couch/list-by-key-type.js';
import type { ExtensionDeclaration } from '../sandbox/types.js';
import type { QueueExtension } from './extension-set.js';

export const extensionSchemaId = 'rd.ext.workqueue';

/** The enabled extensions stored in the database (`raindrop init` put them there). */
export async function loadStoredExtensions(db: Db, logger: Logger): Promise<QueueExtension[]> {
  const out: QueueExtension[] = [];
  for (const doc of await listByKeyType(db, 'ext', extensionSchemaId)) {
    if (doc.enabled === false) continue;
    if (typeof doc.code !== 'string' || typeof doc.code_hash !== 'string') {
      logger.warn('skipping an extension document without code', { id: doc._id });
      continue;
    }
    const declaration: ExtensionDeclaration = {
      id: String(doc.id),
      source_schemas: (doc.source_schemas as string[]) ?? [],
      emits: (doc.emits as string[]) ?? [],
      reads: (doc.reads as string[]) ?? [],
      category: (doc.category as ExtensionDeclaration['category']) ?? 'extender',
      confidence: typeof doc.confidence === 'number' ? doc.confidence : 1,
      uses_dependencies: doc.uses_dependencies === true,
      has_later_handler: doc.has_later_handler === true,
    };
    out.push({ declaration, code: doc.code, codeHash: doc.code_hash });
  }
  return out;
}
