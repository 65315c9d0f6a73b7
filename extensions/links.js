// @ts-check
// rd.attach.link <- rd.msg.body.quoted: the links in the message's own text (not in
// quotes, forwarded or original messages, signatures or list footers), found by
// linkify-it on the host (rd.std.findLinks). One item per distinct URL of a message,
// keyed ["link", [message-id, url]], so a view can list links by domain and later
// extensions can enrich one link (a preview, a title) without rewriting the message's
// other links.

/** Links kept per message (spam can carry hundreds). */
const maxLinks = 100;
/** Longest URL kept (a key value must stay small). */
const maxUrlChars = 2_000;
/** A schemaless link ("example.org") counts only with "www." or one of these top-level
 * domains: linkify-it also accepts every two-letter country code, which turns file names
 * in patches ("README.md", "setup.py", "main.rs") into links. */
const schemalessTlds = new Set(['com', 'org', 'net', 'edu', 'gov', 'io', 'info', 'de', 'uk', 'fr', 'nl', 'eu', 'ch', 'at', 'it', 'es', 'se', 'cz', 'pl', 'ru', 'jp', 'cn', 'us', 'ca', 'au']);

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.links',
  source_schemas: ['rd.msg.body.quoted'],
  emits: ['rd.attach.link'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const own = typeof doc.own_text === 'string' ? doc.own_text : '';
    if (own === '') return;
    const [, messageId] = doc.rd_key;
    /** @type {Map<string, {url: string, text: string, schema: string, host: string, count: number, position: number}>} */
    const seen = new Map();
    for (const link of rd.std.findLinks(own)) {
      if (link.host === null || link.url.length > maxUrlChars) continue;
      const schema = link.schema.toLowerCase();
      if (schema !== '' && schema !== 'http:' && schema !== 'https:' && schema !== 'ftp:') continue;
      if (schema === '') {
        const tld = link.host.slice(link.host.lastIndexOf('.') + 1);
        if (!/^www\./i.test(link.text) && !schemalessTlds.has(tld)) continue;
      }
      const prior = seen.get(link.url);
      if (prior) {
        prior.count++;
        continue;
      }
      if (seen.size >= maxLinks) continue;
      seen.set(link.url, { url: link.url, text: link.text, schema: schema === '' ? 'http:' : schema, host: link.host, count: 1, position: seen.size });
    }
    for (const l of seen.values()) {
      rd.emit(
        'rd.attach.link',
        {
          message: /** @type {import('./types/raindrop').Json} */ (doc.rd_key),
          url: l.url,
          text: l.text,
          scheme: l.schema.slice(0, -1),
          host: l.host,
          domain: l.host.replace(/^www\d*\./, ''),
          count: l.count,
          position: l.position,
        },
        { key: ['link', [String(messageId), l.url]] },
      );
    }
  },
};
