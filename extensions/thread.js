// @ts-check
// rd.msg.thread <- rd.msg.email: the threading facts of one message (cleaned references,
// base subject, participants), small enough that rd.ext.conversation can open a whole
// thread's worth of them. The later_handler keeps reverse indexes that an extension
// seeing one document cannot otherwise have: rd.msg.referenced-by under each referenced
// Message-ID (a placeholder parent when that message has not arrived) and
// rd.conv.subject-index under each base subject, and rd.conv.subject-seekers, the replies
// without references among them (the only messages the subject fallback links to one
// that is not such a reply: rd.ext.conversation reads and depends on that short list for
// every other message, so a subject's new messages do not re-run all its earlier ones).
// All only grow; readers verify entries.
// A delivery status notification (a bounce) carries `bounce_of`, the Message-ID of the
// message it reports on, read from the returned headers; that id is its parent, so the
// bounce joins the original's conversation.

/** @typedef {import('./types/raindrop').Json} Json */

const maxReferences = 200;
const maxIndex = 5000;

/** A Message-ID worth linking on: local@domain, no whitespace, sane length ("yes" is not). */
const validId = (/** @type {unknown} */ id) => typeof id === 'string' && id.length >= 3 && id.length <= 500 && id.includes('@') && !/[\s<>]/.test(id) && !id.startsWith('@') && !id.endsWith('@');

// Reply/forward prefixes in common languages: Re, Fw, Fwd, AW (de), WG (de), SV (sv/da/no),
// VS (fi), Antw (nl), TR (fr), RIF/R (it), RE[2] / Re(2) counters.
const prefix = /^(?:re|fwd?|aw|wg|sv|vs|antw|tr|rif|r|odp|res|enc)(?:\[\d{1,3}\]|\(\d{1,3}\))?\s{0,3}[:：]\s*/i;
const listTag = /^\[[^\]]{0,80}\]\s*/;

/** @param {string | null} subject */
function baseSubject(subject) {
  let s = String(subject ?? '').replace(/\s+/g, ' ').trim();
  let reply = false;
  for (let i = 0; i < 20; i++) {
    const p = prefix.exec(s);
    if (p) { reply = true; s = s.slice(p[0].length); continue; }
    const t = listTag.exec(s);
    if (t && t[0].length < s.length) { s = s.slice(t[0].length); continue; }
    break;
  }
  s = s.replace(/\s*\((?:fwd|fw)\)$/i, '').toLowerCase().trim();
  return { base: s.length >= 3 ? s.slice(0, 200) : null, reply };
}

// Bounces (RFC 3464 and the common non-standard forms). Only a message that is a bounce by
// its structure (multipart/report of delivery status, a message/delivery-status part) or
// by its sender (MAILER-DAEMON, postmaster) is searched for returned headers: an ordinary
// message quoting or forwarding headers is never a bounce.
const statusType = /^message\/(?:global-)?delivery-status$/;
const returnedType = /^(?:message\/rfc822|message\/global|message\/global-headers|text\/rfc822-headers|message\/rfc822-headers)$/;
/** Reports that are not about delivery: read receipts (MDN), abuse feedback (ARF). */
const otherReportType = /^message\/(?:global-)?(?:disposition-notification|feedback-report)$/;
const daemonAddress = /^(?:mailer-daemon|mailer_daemon|mail-daemon|postmaster)(?:@|$)/i;
const daemonName = /^(?:mailer[- ]daemon|postmaster|mail delivery (?:system|subsystem|service))$/i;
/** Subjects of bounces from senders with other names (only for a message that is not a reply). */
const bounceSubject = /^(?:undeliver(?:ed|able)\b|returned mail\b|mail delivery failed|delivery (?:failure|status notification|notification: delivery has failed)|failure notice|non-?delivery\b|(?:mail|message) could not be delivered|mail error$|delayed mail\b|warning: message .{0,40}delayed)/i;
/** Characters of a bounce's text searched for a copied Message-ID line. */
const maxTextScan = 1 << 20;

/** Is this rd.msg.email a delivery status notification? @param {Record<string, unknown>} doc */
function isBounce(doc) {
  const headers = Array.isArray(doc.headers) ? doc.headers : [];
  const ctHeader = headers.find((h) => Array.isArray(h) && h[0] === 'content-type');
  const ct = typeof ctHeader?.[1] === 'string' ? ctHeader[1] : '';
  const parts = /** @type {Array<{content_type?: unknown, in_attached_message?: unknown}>} */ ((Array.isArray(doc.parts) ? doc.parts : []).filter((p) => p && typeof p === 'object'));
  const types = parts.map((p) => (typeof p.content_type === 'string' ? p.content_type : ''));
  // A delivery-status part of the message itself: one inside an attached message (a
  // forwarded bounce) does not make the forward a bounce.
  const status = parts.some((p) => typeof p.content_type === 'string' && statusType.test(p.content_type) && p.in_attached_message !== true);
  const report = /^\s*multipart\/report\b/i.test(ct);
  const reportType = /report-type\s*=\s*"?([a-z0-9-]+)/i.exec(ct)?.[1]?.toLowerCase();
  if (status) return true;
  if (report) return reportType === undefined ? !types.some((t) => otherReportType.test(t)) : /delivery-status$/.test(reportType);
  const from = doc.from && typeof doc.from === 'object' ? /** @type {{name?: unknown, address?: unknown}} */ (doc.from) : null;
  const daemon = (typeof from?.address === 'string' && daemonAddress.test(from.address)) || (typeof from?.name === 'string' && daemonName.test(from.name.trim()));
  const notReply = !(Array.isArray(doc.in_reply_to) && doc.in_reply_to.length > 0) && !(Array.isArray(doc.references) && doc.references.length > 0);
  const subject = typeof doc.subject === 'string' ? doc.subject.trim() : '';
  return daemon || (notReply && bounceSubject.test(subject));
}

/** A Message-ID header line in the text of a bounce (returned headers copied into the
 * body, as qmail, Exim and many report texts do). @param {unknown} text */
function returnedIdInText(text) {
  if (typeof text !== 'string') return null;
  const m = /^[ \t>]*message-id[ \t]*:[ \t]*<([^<>\s]+)>/im.exec(text.slice(0, maxTextScan));
  return m ? String(m[1]) : null;
}

/** The Message-ID a bounce reports on, or null (not a bounce, or nothing returned): the
 * returned message's or headers' Message-ID (rd.std.parseMime reads it into the part's
 * message_id), else a Message-ID line copied into the text.
 * @param {Record<string, unknown>} doc @param {string} own */
function bounceOf(doc, own) {
  if (!isBounce(doc)) return null;
  const parts = /** @type {Array<{content_type?: unknown, message_id?: unknown, nested_message_ids?: unknown}>} */ ((Array.isArray(doc.parts) ? doc.parts : []).filter((p) => p && typeof p === 'object'));
  for (const p of parts) {
    if (typeof p.content_type !== 'string' || !returnedType.test(p.content_type)) continue;
    const ids = [p.message_id, ...(Array.isArray(p.nested_message_ids) ? p.nested_message_ids : [])];
    const id = ids.find((i) => validId(i) && i !== own);
    if (id) return /** @type {string} */ (id);
  }
  const id = returnedIdInText(doc.body_text);
  return validId(id) && id !== own ? id : null;
}

/** @param {unknown} a */
const addressOf = (a) => (a && typeof a === 'object' && typeof (/** @type {{address?: unknown}} */ (a)).address === 'string' ? /** @type {string} */ ((/** @type {{address: string}} */ (a)).address) : null);

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.thread',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.thread', 'rd.msg.referenced-by', 'rd.conv.subject-index', 'rd.conv.subject-seekers'],
  reads: ['rd.msg.referenced-by', 'rd.conv.subject-index', 'rd.conv.subject-seekers'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const own = String(doc.rd_key[1]);
    const refs = Array.isArray(doc.references) ? doc.references : [];
    const irt = Array.isArray(doc.in_reply_to) ? doc.in_reply_to : [];
    /** @type {string[]} */
    const references = [];
    for (const r of [...refs, ...irt]) {
      if (!validId(r) || r === own) continue;
      const i = references.indexOf(/** @type {string} */ (r));
      if (i >= 0) references.splice(i, 1); // keep the last position: the direct parent comes last
      references.push(/** @type {string} */ (r));
    }
    // A bounce's parent is the message it reports on: last in references, and parent_id.
    const bounce = bounceOf(doc, own);
    if (bounce !== null) {
      const i = references.indexOf(bounce);
      if (i >= 0) references.splice(i, 1);
      references.push(bounce);
    }
    const kept = references.slice(-maxReferences);
    const direct = irt.filter((r) => validId(r) && r !== own);
    const parent = bounce ?? /** @type {string | undefined} */ (direct[direct.length - 1]) ?? kept[kept.length - 1] ?? null;
    const { base, reply } = baseSubject(typeof doc.subject === 'string' ? doc.subject : null);
    const from = doc.from && typeof doc.from === 'object' ? /** @type {{name?: string, address?: string}} */ (doc.from) : null;
    const people = new Set();
    for (const a of [doc.from, ...(Array.isArray(doc.to) ? doc.to : []), ...(Array.isArray(doc.cc) ? doc.cc : [])]) {
      const address = addressOf(a);
      if (address) people.add(address);
    }
    /** @type {Json} */
    const fromField = from ? { ...(from.name !== undefined ? { name: from.name } : {}), ...(from.address !== undefined ? { address: from.address } : {}) } : null;
    rd.emit('rd.msg.thread', {
      message_id: own,
      references: kept,
      parent_id: parent,
      subject: typeof doc.subject === 'string' ? doc.subject : null,
      base_subject: base,
      reply_prefix: reply,
      from: fromField,
      participants: [...people].sort(),
      timestamp: typeof doc.timestamp === 'number' ? doc.timestamp : null,
      ...(bounce !== null ? { bounce_of: bounce } : {}),
    });
    rd.later({ id: own, refs: kept, base, seeker: reply && kept.length === 0 });
  },
  later_handler(values, rd) {
    /** @type {Map<string, Set<string>>} */
    const byRef = new Map();
    /** @type {Map<string, Set<string>>} */
    const bySubject = new Map();
    /** @type {Map<string, Set<string>>} */
    const seekersBySubject = new Map();
    const add = (/** @type {Map<string, Set<string>>} */ m, /** @type {string} */ k, /** @type {string} */ v) => {
      const s = m.get(k) ?? new Set();
      s.add(v);
      m.set(k, s);
    };
    for (const v of values) {
      const { id, refs, base, seeker } = /** @type {{id: string, refs: string[], base: string | null, seeker: boolean}} */ (/** @type {unknown} */ (v));
      for (const r of refs) add(byRef, r, id);
      if (base !== null) add(bySubject, base, id);
      if (base !== null && seeker) add(seekersBySubject, base, id);
    }
    const merge = (/** @type {unknown} */ existing, /** @type {Set<string>} */ fresh) => {
      const before = Array.isArray(existing) ? /** @type {string[]} */ (existing) : [];
      const all = [...new Set([...before, ...fresh])].sort().slice(0, maxIndex);
      return all.length === before.length && all.every((x, i) => x === before[i]) ? null : all;
    };
    const refKeys = [...byRef.keys()].sort();
    const refDocs = rd.openMany(refKeys.map((r) => [['email', r], 'rd.msg.referenced-by']));
    refKeys.forEach((r, i) => {
      const next = merge(refDocs[i]?.referenced_by, /** @type {Set<string>} */ (byRef.get(r)));
      if (next) rd.emit('rd.msg.referenced-by', { referenced_by: next }, { key: ['email', r] });
    });
    const subjects = [...bySubject.keys()].sort();
    const subjectDocs = rd.openMany(subjects.map((s) => [['subject', s], 'rd.conv.subject-index']));
    subjects.forEach((s, i) => {
      const next = merge(subjectDocs[i]?.message_ids, /** @type {Set<string>} */ (bySubject.get(s)));
      if (next) rd.emit('rd.conv.subject-index', { message_ids: next }, { key: ['subject', s] });
    });
    const seekerSubjects = [...seekersBySubject.keys()].sort();
    const seekerDocs = rd.openMany(seekerSubjects.map((s) => [['subject', s], 'rd.conv.subject-seekers']));
    seekerSubjects.forEach((s, i) => {
      const next = merge(seekerDocs[i]?.message_ids, /** @type {Set<string>} */ (seekersBySubject.get(s)));
      if (next) rd.emit('rd.conv.subject-seekers', { message_ids: next }, { key: ['subject', s] });
    });
  },
};
