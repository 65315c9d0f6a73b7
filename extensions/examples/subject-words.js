// @ts-check
// An example extension: counts the words of each message's subject. Its schema is
// example.subject-words.json, next to it. Try it with
//   raindrop ext run extensions/examples/subject-words.js --doc extensions/examples/message.json

/** @type {import('../types/raindrop').Extension} */
export default {
  id: 'example.subject-words',
  source_schemas: ['rd.msg.email'],
  emits: ['example.subject-words'],
  category: 'provider',
  handler(doc, rd) {
    const subject = typeof doc.subject === 'string' ? doc.subject : '';
    const words = subject.split(/\s+/).filter((w) => w.length > 0);
    rd.emit('example.subject-words', { count: words.length, longest: words.reduce((a, w) => (w.length > a.length ? w : a), '') });
    if (words.length === 0) rd.log.warn('message without a subject', doc._id);
  },
};
