// @ts-check
// rd.attach.file and rd.msg.attachment-summary <- rd.msg.email: one item per attachment
// of a message, keyed ["attach", [message-id, MIME part id]], with a reference to its
// bytes in the raw message (the rd.msg.rfc822 document, its rd.fetch/rfc822 attachment
// and the IMAP-style part id): nothing is copied. A message with attachments also gets
// an rd.msg.attachment-summary under its own key; one without gets none.
//
// An attachment: a leaf MIME part that is not the text/HTML body, not a multipart, not
// inside an attached message (a message/rfc822 with disposition attachment is itself the
// one attachment; an inline one, e.g. a Mailman DMARC wrapper, is transparent) and not a
// PGP/S-MIME signature of multipart/signed (750 of the openwrt-devel messages are signed;
// nobody calls signature.asc an attachment).

/** @typedef {import('./types/raindrop').MimePart} MimePart */
/** @typedef {import('./types/raindrop').Json} Json */

const signatureTypes = new Set(['application/pgp-signature', 'application/pkcs7-signature', 'application/x-pkcs7-signature']);
/** Names kept in the summary. */
const maxSummaryNames = 50;

/** An attached message (disposition attachment) is one opaque attachment; an inline one
 * (a forward shown in the text, a Mailman DMARC wrapper) is transparent: its text is the
 * body, its own attachments count. */
const isAttachedMessage = (/** @type {MimePart} */ p) => p.content_type === 'message/rfc822' && p.disposition === 'attachment';

/** @param {MimePart[]} parts */
const attachmentsOf = (parts) => {
  const opaque = parts.filter(isAttachedMessage).map((p) => `${p.part_id}.`);
  return parts.filter((p) => {
    if (p.content_type.startsWith('multipart/') || p.body === true || signatureTypes.has(p.content_type)) return false;
    if (p.content_type === 'message/rfc822' && !isAttachedMessage(p)) return false;
    return !opaque.some((prefix) => p.part_id.startsWith(prefix));
  });
};

/** A name for a part that has none: "part-1.2" and an extension from its type. */
const fallbackName = (/** @type {MimePart} */ p) => {
  const sub = p.content_type.split('/')[1] ?? 'bin';
  const ext = p.content_type === 'message/rfc822' ? 'eml' : p.content_type === 'text/plain' ? 'txt' : /^[a-z0-9]{1,8}$/.test(sub) ? sub : 'bin';
  return `part-${p.part_id}.${ext}`;
};

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.attachments',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.attach.file', 'rd.msg.attachment-summary'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const parts = /** @type {MimePart[]} */ (Array.isArray(doc.parts) ? doc.parts : []);
    const [, messageId] = doc.rd_key;
    // The raw document has the same key: its id is this one's with the schema swapped.
    if (!doc._id.endsWith('!rd.msg.email')) throw new Error(`unexpected source id ${doc._id}`);
    const rawId = `${doc._id.slice(0, -'rd.msg.email'.length)}rd.msg.rfc822`;
    const files = attachmentsOf(parts);
    if (files.length === 0) return;
    let total = 0;
    let inline = 0;
    /** @type {string[]} */
    const names = [];
    /** @type {string[]} */
    const types = [];
    for (const p of files) {
      const name = typeof p.filename === 'string' && p.filename.trim() !== '' ? p.filename.trim() : null;
      const isInline = p.related === true || (p.disposition === 'inline' && typeof p.content_id === 'string');
      /** @type {Record<string, Json>} */
      const fields = {
        message: /** @type {Json} */ (doc.rd_key),
        part_id: p.part_id,
        name: name ?? fallbackName(p),
        filename: name,
        content_type: p.content_type,
        size: typeof p.size === 'number' ? p.size : null,
        inline: isInline,
        raw: { doc_id: rawId, attachment: 'rd.fetch/rfc822', part_id: p.part_id },
      };
      if (typeof p.disposition === 'string') fields.disposition = p.disposition;
      if (typeof p.content_id === 'string') fields.content_id = p.content_id;
      if (typeof p.encoding === 'string') fields.encoding = p.encoding;
      rd.emit('rd.attach.file', fields, { key: ['attach', [String(messageId), p.part_id]] });
      total += typeof p.size === 'number' ? p.size : 0;
      if (isInline) inline++;
      if (names.length < maxSummaryNames) names.push(/** @type {string} */ (fields.name));
      if (!types.includes(p.content_type)) types.push(p.content_type);
    }
    rd.emit('rd.msg.attachment-summary', {
      count: files.length,
      inline_count: inline,
      total_size: total,
      names,
      content_types: types,
      part_ids: files.map((p) => p.part_id),
    });
  },
};
