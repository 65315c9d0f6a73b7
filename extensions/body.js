// @ts-check
// rd.msg.body <- rd.msg.email: what a reader sees. The text is the text/plain body, or
// text made from the HTML by html-to-text (rd.std.htmlToText); the HTML is kept only
// sanitized (rd.std.sanitizeHtml, sanitize-html), never as sent.

const previewChars = 200;

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.body',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.body'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const plain = typeof doc.body_text === 'string' ? doc.body_text : null;
    const html = typeof doc.body_html === 'string' && doc.body_html.trim() !== '' ? doc.body_html : null;
    /** @type {'plain' | 'html' | 'none'} */
    let source = 'none';
    let text = '';
    if (plain !== null && plain.trim() !== '') {
      text = plain;
      source = 'plain';
    } else if (html !== null) {
      text = rd.std.htmlToText(html);
      source = 'html';
    }
    text = text.replace(/\r\n?/g, '\n');
    /** @type {Record<string, import('./types/raindrop').Json>} */
    const fields = {
      from: /** @type {import('./types/raindrop').Json} */ (doc.from ?? null),
      to: /** @type {import('./types/raindrop').Json} */ (doc.to ?? []),
      cc: /** @type {import('./types/raindrop').Json} */ (doc.cc ?? []),
      subject: typeof doc.subject === 'string' ? doc.subject : null,
      text,
      text_source: source,
      preview: Array.from(text.replace(/\s+/g, ' ').trim()).slice(0, previewChars - 1).join('').slice(0, previewChars),
      timestamp: typeof doc.timestamp === 'number' ? doc.timestamp : null,
    };
    if (html !== null) fields.html = rd.std.sanitizeHtml(html);
    rd.emit('rd.msg.body', fields);
  },
};
