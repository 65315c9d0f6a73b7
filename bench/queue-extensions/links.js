// Level 2: parsed message → one document per distinct link of the body.
export default {
  id: 'bench.links',
  source_schemas: ['rd.bench.message'],
  emits: ['rd.bench.link'],
  category: 'provider',
  handler(doc, rd) {
    const found = String(doc.body).match(/https?:\/\/[^\s<>"')]+/g) || [];
    const urls = [...new Set(found.map((u) => u.replace(/[.,;:!?]+$/, '')))].sort();
    for (const url of urls) {
      const host = url.replace(/^https?:\/\//, '').split(/[/?#]/)[0].toLowerCase();
      rd.emit('rd.bench.link', { url, host, message: doc._id }, { key: ['link', doc.rd_key[1] + ' ' + url] });
    }
  },
};
