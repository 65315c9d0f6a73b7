// @ts-check
// rd.msg.thread <- rd.msg.email: the threading facts of one message (cleaned references,
// base subject, participants), small enough that rd.ext.conversation can open a whole
// thread's worth of them. The later_handler keeps two reverse indexes that an extension
// seeing one document cannot otherwise have: rd.msg.referenced-by under each referenced
// Message-ID (a placeholder parent when that message has not arrived) and
// rd.conv.subject-index under each base subject. Both only grow; readers verify entries.

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

/** @param {unknown} a */
const addressOf = (a) => (a && typeof a === 'object' && typeof (/** @type {{address?: unknown}} */ (a)).address === 'string' ? /** @type {string} */ ((/** @type {{address: string}} */ (a)).address) : null);

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.thread',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.thread', 'rd.msg.referenced-by', 'rd.conv.subject-index'],
  reads: ['rd.msg.referenced-by', 'rd.conv.subject-index'],
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
    const kept = references.slice(-maxReferences);
    const direct = irt.filter((r) => validId(r) && r !== own);
    const parent = /** @type {string | undefined} */ (direct[direct.length - 1]) ?? kept[kept.length - 1] ?? null;
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
    });
    rd.later({ id: own, refs: kept, base });
  },
  later_handler(values, rd) {
    /** @type {Map<string, Set<string>>} */
    const byRef = new Map();
    /** @type {Map<string, Set<string>>} */
    const bySubject = new Map();
    const add = (/** @type {Map<string, Set<string>>} */ m, /** @type {string} */ k, /** @type {string} */ v) => {
      const s = m.get(k) ?? new Set();
      s.add(v);
      m.set(k, s);
    };
    for (const v of values) {
      const { id, refs, base } = /** @type {{id: string, refs: string[], base: string | null}} */ (/** @type {unknown} */ (v));
      for (const r of refs) add(byRef, r, id);
      if (base !== null) add(bySubject, base, id);
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
  },
};
