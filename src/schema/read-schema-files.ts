import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RaindropError, errorCodes } from '../core/index.js';
import type { SchemaDefinition } from './definition.js';

/** Reads `<dir>/*.json`; a file must be named after the schema id it defines. */
export async function readSchemaFiles(dir: string): Promise<Array<{ file: string; definition: SchemaDefinition }>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const out: Array<{ file: string; definition: SchemaDefinition }> = [];
  for (const name of files) {
    const file = join(dir, name);
    let definition: SchemaDefinition;
    try {
      definition = JSON.parse(await readFile(file, 'utf8')) as SchemaDefinition;
    } catch (cause) {
      throw new RaindropError(errorCodes.SCHEMA_INVALID, `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
    if (`${definition.id}.json` !== name) {
      throw new RaindropError(errorCodes.SCHEMA_INVALID, `${file} defines "${String(definition.id)}"; name the file ${String(definition.id)}.json`);
    }
    out.push({ file, definition });
  }
  return out;
}
