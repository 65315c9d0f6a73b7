// Level 2, second writer of rd.bench.body: an extender with higher confidence adding
// flags; the queue merges both writers' items into one document.
export default {
  id: 'bench.flags',
  source_schemas: ['rd.bench.message'],
  emits: ['rd.bench.body'],
  category: 'extender',
  confidence: 5,
  handler(doc, rd) {
    const subject = String(doc.subject);
    const letters = subject.replace(/[^A-Za-z]/g, '');
    rd.emit('rd.bench.body', {
      is_reply: /^\s*(re|aw|fwd?)\s*:/i.test(subject) || typeof doc.in_reply_to === 'string',
      has_links: String(doc.body).indexOf('http') >= 0,
      shouting: letters.length > 8 && letters === letters.toUpperCase(),
    });
  },
};
