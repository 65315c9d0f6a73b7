// @ts-check
// rd.msg.email <- rd.msg.rfc822: the raw bytes parsed on the host by rd.std.parseMime
// (mailparser): decoded headers, addresses, date, ids, List-* headers, the part list and
// the decoded bodies (raw, not for display: rd.msg.body has the sanitized HTML).
// What parseMime returns is part of this file's meaning but not of its code hash: when its
// decoding changes, the line below changes with it, so existing mail is parsed again.
// parseMime decoding: 2 (text parts labelled us-ascii or unlabelled decoded by content).

/** @typedef {import('./types/raindrop').MimeAddress} MimeAddress */

/** @param {MimeAddress[]} list */
const addresses = (list) => list.map((a) => {
  /** @type {Record<string, string>} */
  const out = {};
  if (a.name !== undefined) out.name = a.name;
  if (a.address !== undefined) out.address = a.address.toLowerCase();
  if (a.group !== undefined) out.group = a.group;
  return out;
});

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.email',
  source_schemas: ['rd.msg.rfc822'],
  emits: ['rd.msg.email'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const bytes = rd.attachment(doc, 'rd.fetch/rfc822');
    if (!bytes) throw new Error('the raw message has no rd.fetch/rfc822 attachment');
    const m = rd.std.parseMime(bytes);
    const [, id] = doc.rd_key;
    /** @type {Record<string, import('./types/raindrop').Json>} */
    const fields = {
      message_id: String(id),
      subject: m.subject,
      from: addresses(m.from)[0] ?? null,
      sender: addresses(m.sender)[0] ?? null,
      reply_to: addresses(m.reply_to),
      to: addresses(m.to),
      cc: addresses(m.cc),
      bcc: addresses(m.bcc),
      date: m.date,
      timestamp: m.date === null ? null : Date.parse(m.date) / 1000,
      in_reply_to: m.in_reply_to,
      references: m.references,
      list: m.list,
      headers: m.headers,
      parts: /** @type {import('./types/raindrop').Json} */ (/** @type {unknown} */ (m.parts)),
      body_text: m.text,
      body_html: m.html,
      charsets: m.charsets,
      charset_fallbacks: m.charset_fallbacks,
    };
    if (m.date_raw !== null) fields.date_raw = m.date_raw;
    if (doc.message_id_synthesized === true) fields.message_id_synthesized = true;
    if (m.message_id !== null && m.message_id !== id) fields.message_id_header = m.message_id;
    if (m.problems.length > 0) fields.problems = m.problems;
    rd.emit('rd.msg.email', fields);
  },
};
