import { createHash } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SmtpFields } from './items.js';

/** Reads the bytes of one referenced CouchDB attachment. */
export type AttachmentReader = (doc: string, attachment: string) => Promise<Buffer | undefined>;

export interface Composed {
  bytes: Buffer;
  sha256: string;
}

const addr = (a: { name?: string; address: string }) => (a.name ? { name: a.name, address: a.address } : a.address);

/**
 * The RFC 5322 message for an rd.msg.outgoing.smtp document, built by nodemailer's
 * MailComposer. Deterministic: the Message-ID, the Date and the MIME boundary come from
 * the document, so the same document always gives the same bytes (what a retry sends
 * is what the first attempt would have sent, and a re-composed copy can be checked
 * against the SHA-256 in the sender's record). Bcc is not written into the header: it is
 * in the envelope only.
 */
export async function composeMessage(fields: SmtpFields, read: AttachmentReader): Promise<Composed> {
  const { mail } = fields;
  const attachments = [];
  for (const ref of mail.attachments) {
    const content = await read(ref.doc, ref.attachment);
    if (content === undefined) throw new Error(`the attachment "${ref.filename}" (${ref.attachment} of ${ref.doc}) is no longer stored`);
    attachments.push({ filename: ref.filename, contentType: ref.content_type, content, ...(ref.forwarded ? { contentDisposition: 'attachment' as const } : {}) });
  }
  const composer = new MailComposer({
    from: addr(mail.from),
    to: mail.to.map(addr),
    ...(mail.cc.length > 0 ? { cc: mail.cc.map(addr) } : {}),
    ...(mail.reply_to ? { replyTo: addr(mail.reply_to) } : {}),
    subject: mail.subject,
    text: mail.text,
    ...(mail.html === undefined ? {} : { html: mail.html }),
    messageId: `<${fields.message_id}>`,
    date: new Date(fields.requested_at),
    ...(mail.in_reply_to === undefined ? {} : { inReplyTo: `<${mail.in_reply_to}>` }),
    ...(mail.references.length > 0 ? { references: mail.references.map((r) => `<${r}>`) } : {}),
    attachments,
    baseBoundary: createHash('sha256').update(fields.message_id).digest('hex').slice(0, 24),
    // Nothing from the network or the disk goes into a message: only the bytes given.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  // SMTP carries lines ending in CRLF: a bare LF (a text body typed on Unix, a forwarded
  // message stored with LF) is sent as CRLF anyway, so the stored copy is made the same
  // here and what the server receives is exactly these bytes. latin1 maps bytes 1:1.
  const bytes = Buffer.from((await composer.compile().build()).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
