// Level 2: parsed message → word and line counts and a one-line preview.
export default {
  id: 'bench.body',
  source_schemas: ['rd.bench.message'],
  emits: ['rd.bench.body'],
  category: 'provider',
  handler(doc, rd) {
    const body = String(doc.body);
    const words = body.split(/\s+/).filter((w) => w.length > 0);
    const lines = body.length === 0 ? 0 : body.split('\n').length;
    const preview = words.slice(0, 40).join(' ').slice(0, 140);
    rd.emit('rd.bench.body', { words: words.length, lines, preview });
  },
};
