// @ts-check
// rd.msg.outgoing.smtp <- rd.msg.outgoing (state 'send'): everything the SMTP sender needs
// decided here, deterministically, from the user's item: the envelope, every header
// (Message-ID = the item's key, Date = requested_at, From with the identity's name,
// In-Reply-To and References continuing the thread) and the attachments as references
// to CouchDB attachments. The bytes are composed by the sender with nodemailer's
// MailComposer (src/protocols/smtp/compose.ts): an emitted output is capped at 8 MB of
// JSON and a message may carry a 20 MB attachment, so the bytes cannot pass through here.
// A draft emits nothing (its protocol document, if any, goes as a stale output).

/** @typedef {import('./types/raindrop').Json} Json */
/** @typedef {{ name?: string, address: string }} Address */

/** Sum of attachment bytes accepted in one message: what the big providers accept
 * (Gmail, Outlook: 25 MB) before base64 grows it by a third. */
const maxAttachmentBytes = 25 * 1024 * 1024;
/** References kept: the first (the thread's root) and the latest ones, as RFC 5322
 * suggests trimming, so a long thread does not grow the header without bound. */
const maxReferences = 20;
const userWriter = 'user';

/** @param {unknown} value @returns {Address[]} */
const list = (value) => (Array.isArray(value) ? /** @type {Address[]} */ (value) : []);
/** @param {Address} a @returns {Address} */
const address = (a) => (a.name !== undefined && a.name !== '' ? { name: a.name, address: a.address } : { address: a.address });

/** @param {string} subject */
const emlName = (subject) => `${(subject || 'forwarded message').replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_').slice(0, 100)}.eml`;

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.outgoing',
  source_schemas: ['rd.msg.outgoing'],
  emits: ['rd.msg.outgoing.smtp'],
  reads: ['rd.msg.email', 'rd.msg.rfc822', 'rd.identity'],
  category: 'provider',
  confidence: 1,
  uses_dependencies: true,
  handler(doc, rd) {
    if (doc.state !== 'send') return;
    const messageId = String(doc.rd_key[1]);
    const from = /** @type {Address} */ (doc.from);
    const to = list(doc.to);
    const cc = list(doc.cc);
    const bcc = list(doc.bcc);
    const recipients = [...new Set([...to, ...cc, ...bcc].map((a) => a.address.toLowerCase()))];
    if (recipients.length === 0) throw new Error('the message has no recipient: add at least one To, Cc or Bcc address');

    const mine = rd.myIdentities().map((k) => String(k[1]).toLowerCase());
    if (mine.length > 0 && !mine.includes(from.address.toLowerCase())) {
      throw new Error(`the From address ${from.address} is not one of your identities (${mine.join(', ')}); add it with "raindrop account add ... --identities"`);
    }
    /** @type {Array<[import('./types/raindrop').Key, string]>} */
    const deps = [];

    // The identity's name: as the user wrote it, else the name most used for the address.
    let fromName = from.name;
    if (fromName === undefined || fromName === '') {
      /** @type {import('./types/raindrop').Key} */
      const idKey = ['identity', ['email', from.address.toLowerCase()]];
      const identity = rd.open(idKey, 'rd.identity');
      deps.push([idKey, 'rd.identity']);
      const names = identity && Array.isArray(identity.names) ? /** @type {Array<{name?: string} | string>} */ (identity.names) : [];
      const first = names[0];
      fromName = typeof first === 'string' ? first : first?.name;
    }

    const text = typeof doc.text === 'string' ? doc.text : '';
    const html = typeof doc.html === 'string' && doc.html !== '' ? doc.html : undefined;
    /** @type {Record<string, Json>} */
    const mail = {
      from: address({ address: from.address, ...(fromName ? { name: fromName } : {}) }),
      to: to.map(address),
      cc: cc.map(address),
      subject: typeof doc.subject === 'string' ? doc.subject : '',
      text,
      references: [],
      attachments: [],
    };
    if (html !== undefined) mail.html = html;
    if (doc.reply_to) mail.reply_to = address(/** @type {Address} */ (doc.reply_to));

    // Threading: In-Reply-To is the replied message's id (its key); References continue
    // the parent's own References (when it is parsed already; a dependency otherwise).
    const inReplyTo = /** @type {import('./types/raindrop').Key | undefined} */ (doc.in_reply_to);
    if (inReplyTo) {
      const parentId = String(inReplyTo[1]);
      const parent = rd.open(inReplyTo, 'rd.msg.email');
      deps.push([inReplyTo, 'rd.msg.email']);
      const refs = parent && Array.isArray(parent.references) ? parent.references.map(String) : [];
      const all = [...refs.filter((r) => r !== parentId && r !== messageId), parentId];
      mail.references = all.length > maxReferences ? [all[0] ?? parentId, ...all.slice(all.length - maxReferences + 1)] : all;
      mail.in_reply_to = parentId;
    }

    /** @type {Array<Record<string, Json>>} */
    const attachments = [];
    let total = 0;
    const stubs = doc._attachments ?? {};
    for (const a of /** @type {Array<{attachment: string, filename: string, content_type?: string}>} */ (Array.isArray(doc.attachments) ? doc.attachments : [])) {
      const name = `${userWriter}/${a.attachment}`;
      const stub = stubs[name];
      if (!stub) throw new Error(`the attachment "${a.filename}" is listed but its bytes are not attached (expected the CouchDB attachment "${name}")`);
      const size = stub.length ?? 0;
      total += size;
      attachments.push({ doc: doc._id, attachment: name, filename: a.filename, content_type: a.content_type ?? stub.content_type ?? 'application/octet-stream', size });
    }
    const forwardOf = /** @type {import('./types/raindrop').Key | undefined} */ (doc.forward_of);
    if (forwardOf) {
      const raw = rd.open(forwardOf, 'rd.msg.rfc822');
      if (!raw) throw new Error(`the forwarded message ${String(forwardOf[1])} is not stored (no rd.msg.rfc822); sync it first`);
      const stub = raw._attachments?.['rd.fetch/rfc822'];
      if (!stub) throw new Error(`the forwarded message ${String(forwardOf[1])} has no raw bytes`);
      const parsed = rd.open(forwardOf, 'rd.msg.email');
      const size = stub.length ?? 0;
      total += size;
      attachments.push({ doc: raw._id, attachment: 'rd.fetch/rfc822', filename: emlName(parsed && typeof parsed.subject === 'string' ? parsed.subject : ''), content_type: 'message/rfc822', size, forwarded: true });
    }
    if (total > maxAttachmentBytes) {
      throw new Error(`the attachments total ${(total / 1048576).toFixed(1)} MB; at most ${maxAttachmentBytes / 1048576} MB can be sent in one message`);
    }
    mail.attachments = attachments;

    rd.emit('rd.msg.outgoing.smtp', {
      account: String(doc.account),
      message_id: messageId,
      send_request: typeof doc.send_request === 'number' ? doc.send_request : 1,
      requested_at: String(doc.requested_at),
      envelope: { from: from.address, to: recipients },
      mail,
      size: total + text.length + (html === undefined ? 0 : html.length),
    }, { deps });
  },
};
