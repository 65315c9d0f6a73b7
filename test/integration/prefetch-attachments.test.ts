/**
 * The queue's attachment prefetch against the real server: a batch's raw messages come
 * inline in a few `_all_docs` requests and are answered from memory with exactly the
 * stored bytes; an attachment replaced after the batch read its document is not taken
 * (its digest differs), and one too big for a single request is read on its own.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { BatchWriter } from '../../src/queue/batch-writer.js';
import { queueLimits } from '../../src/queue/limits.js';
import { prefetchAttachments } from '../../src/queue/prefetch.js';
import { messageFiles, spamAssassinDir } from '../helpers/corpus.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('prefetch_attachments');

async function storeWithAttachment(id: string, bytes: Buffer): Promise<CouchDoc> {
  await t.db.scope.insert({ _id: id, _attachments: { raw: { content_type: 'message/rfc822', data: bytes.toString('base64') } } } as never);
  return (await getDoc(t.db, id)) as CouchDoc;
}

describe('prefetchAttachments', () => {
  it('caches every raw message of a batch with its stored bytes, and leaves out one replaced since', async () => {
    const files = (await messageFiles(join(spamAssassinDir, 'easy-ham-1'))).slice(0, 40);
    const originals = new Map<string, Buffer>();
    const docs: CouchDoc[] = [];
    for (const [i, file] of files.entries()) {
      const bytes = await readFile(file);
      const id = `raw-${i}`;
      originals.set(id, bytes);
      docs.push(await storeWithAttachment(id, bytes));
    }
    // The batch holds the first revision of raw-3; the stored one changes under it.
    const stale = docs[3] as CouchDoc;
    await t.db.scope.insert({ ...stale, _attachments: { raw: { content_type: 'message/rfc822', data: Buffer.from('Subject: other\r\n\r\nchanged').toString('base64') } } } as never);

    const writer = new BatchWriter(t.db);
    await prefetchAttachments(t.db, writer, docs);
    for (const doc of docs) {
      const cached = writer.cachedAttachment(doc._id, 'raw');
      if (doc._id === stale._id) expect(cached).toBeUndefined();
      else expect(cached?.equals(originals.get(doc._id) as Buffer)).toBe(true);
    }
  });

  it('reads an attachment bigger than one request on its own, at the batch\'s revision', async () => {
    const big = Buffer.alloc(queueLimits.prefetchRequestBytes + 1024, 'x');
    const small = await readFile((await messageFiles(join(spamAssassinDir, 'easy-ham-1')))[0] as string);
    await t.db.scope.attachment.insert('big', 'raw', big, 'message/rfc822');
    const docs = [(await getDoc(t.db, 'big')) as CouchDoc, await storeWithAttachment('small', small)];
    // Replaced after the batch read it: the batch still gets the bytes of its revision.
    await t.db.scope.attachment.insert('big', 'raw', Buffer.alloc(queueLimits.prefetchRequestBytes + 1024, 'y'), 'message/rfc822', { rev: (docs[0] as CouchDoc)._rev });
    const writer = new BatchWriter(t.db);
    await prefetchAttachments(t.db, writer, docs);
    expect(writer.cachedAttachment('big', 'raw')?.equals(big)).toBe(true);
    expect(writer.cachedAttachment('small', 'raw')?.equals(small)).toBe(true);
  });
});
