// Level 3: body summary → per-sender summary keyed by the sender's address. The sender
// is in the parsed message, read through rd.open (served from the batch's own state).
export default {
  id: 'bench.sender',
  source_schemas: ['rd.bench.body'],
  emits: ['rd.bench.contact'],
  reads: ['rd.bench.message'],
  category: 'provider',
  handler(doc, rd) {
    const message = rd.open(doc.rd_key, 'rd.bench.message');
    if (!message) return;
    const from = message.from;
    const at = from.address.lastIndexOf('@');
    rd.emit('rd.bench.contact', {
      address: from.address,
      name: from.name,
      domain: at >= 0 ? from.address.slice(at + 1) : '',
      last_subject: message.subject,
      last_words: doc.words,
    }, { key: ['identity', from.address] });
  },
};
