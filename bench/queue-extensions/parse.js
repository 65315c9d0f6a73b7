// Level 1: a raw text message → its headers and body (like rd.msg.rfc822 → rd.msg.email).
function unfold(head) {
  const headers = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

function address(value) {
  const text = String(value || '').trim();
  const lt = text.lastIndexOf('<');
  const gt = text.lastIndexOf('>');
  if (lt >= 0 && gt > lt) {
    const name = text.slice(0, lt).trim().replace(/^"|"$/g, '').trim();
    return { name, address: text.slice(lt + 1, gt).trim().toLowerCase() };
  }
  return { name: '', address: text.toLowerCase() };
}

function addressList(value) {
  return String(value || '').split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(address);
}

export default {
  id: 'bench.parse',
  source_schemas: ['rd.bench.raw'],
  emits: ['rd.bench.message'],
  category: 'provider',
  handler(doc, rd) {
    const text = String(doc.text);
    const split = text.indexOf('\r\n\r\n');
    const head = split < 0 ? text : text.slice(0, split);
    const body = split < 0 ? '' : text.slice(split + 4);
    const h = unfold(head);
    const message = {
      message_id: String(h['message-id'] || '').replace(/^<|>$/g, ''),
      from: address(h.from),
      to: addressList(h.to),
      subject: h.subject || '',
      date: h.date || '',
      body: body.replace(/\r\n/g, '\n').trim(),
    };
    if (h['in-reply-to']) message.in_reply_to = h['in-reply-to'].replace(/^<|>$/g, '');
    rd.emit('rd.bench.message', message);
  },
};
