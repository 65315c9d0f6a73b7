// @ts-check
// rd.msg.identities (per message), rd.identity (per address) and rd.contact (per person)
// <- rd.msg.email. Every address a message names becomes an identity
// ["identity", ["email", address]] with the display names used for it, how often and how
// recently it was seen, and the relationship: mail from it, mail to it, and mail the user
// sent to it (from one of rd.myIdentities()). Identities of one person form a contact:
// identities first seen with the same full display name (two or more words, not a role
// such as "via list" or "support team") share the contact ["contact", that name,
// lower-cased]; any other identity is its own contact ["contact", its address]. An
// identity keeps the contact it was first given, so a contact never splits later.
//
// Counts grow when a message is first seen by this extension (it has no rd.msg.identities
// yet), so re-running on the same message never counts it twice.

/** @typedef {import('./types/raindrop').Json} Json */

const maxNames = 5;
const maxContactIdentities = 50;
/** Names that describe a role or a robot, not a person, and so never join identities. */
const roleWords = /\b(?:via|list|lists|team|support|service|services|noreply|no-reply|notifications?|mailer|daemon|admin|administrator|info|bot|robot|postmaster|newsletter|news|sales|billing|help|desk|on behalf of|the)\b/i;

/** The contact a new identity belongs to. */
const contactFor = (/** @type {string} */ address, /** @type {string | null} */ name) => {
  const n = (name ?? '').normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
  const words = n.split(' ').filter((w) => w.length > 0);
  const personal = words.length >= 2 && words.length <= 5 && words.every((w) => /^[\p{L}][\p{L}\p{M}.'’-]*$/u.test(w)) && !roleWords.test(n) && !n.includes('@');
  return personal ? n : address;
};

const addressOf = (/** @type {unknown} */ a) => {
  const o = /** @type {{address?: unknown, name?: unknown}} */ (a && typeof a === 'object' ? a : {});
  const address = typeof o.address === 'string' && /^[^@\s]+@[^@\s]+$/.test(o.address) ? o.address.toLowerCase() : null;
  const name = typeof o.name === 'string' && o.name.trim().length > 0 && o.name.toLowerCase() !== address ? o.name.trim().slice(0, 200) : null;
  return address ? { address, name } : null;
};

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.identities',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.identities', 'rd.identity', 'rd.contact'],
  reads: ['rd.msg.identities', 'rd.identity', 'rd.contact'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const mine = new Set(rd.myIdentities().map((k) => String(k[1]).toLowerCase()));
    const from = addressOf(doc.from);
    /** @type {Map<string, string | null>} */
    const recipients = new Map();
    for (const field of ['to', 'cc', 'bcc']) {
      const list = doc[field];
      for (const a of Array.isArray(list) ? list : []) {
        const r = addressOf(a);
        if (r && !recipients.has(r.address)) recipients.set(r.address, r.name);
      }
    }
    const fromMe = from !== null && mine.has(from.address);
    const toMe = [...recipients.keys()].some((a) => mine.has(a));
    const first = rd.open(doc.rd_key, 'rd.msg.identities') === null;
    rd.emit('rd.msg.identities', {
      from: from?.address ?? null,
      recipients: [...recipients.keys()].sort().slice(0, 500),
      from_me: fromMe,
      to_me: toMe,
    });
    if (!first) return;
    const timestamp = typeof doc.timestamp === 'number' ? doc.timestamp : null;
    /** @type {Json[]} */
    const people = [];
    if (from) people.push({ address: from.address, name: from.name, role: 'from' });
    for (const [address, name] of recipients) {
      if (address !== from?.address) people.push({ address, name, role: 'to' });
    }
    rd.later({ timestamp, from_me: fromMe, people: people.slice(0, 500) });
  },
  later_handler(values, rd) {
    /** @typedef {{messages: number, from: number, to: number, sentByMe: number, first: number | null, last: number | null, lastSentByMe: number | null, names: Map<string, number>, firstName: string | null}} Tally */
    /** @type {Map<string, Tally>} */
    const tallies = new Map();
    const min = (/** @type {number | null} */ a, /** @type {number | null} */ b) => (a === null ? b : b === null ? a : Math.min(a, b));
    const max = (/** @type {number | null} */ a, /** @type {number | null} */ b) => (a === null ? b : b === null ? a : Math.max(a, b));
    for (const v of values) {
      const m = /** @type {{timestamp: number | null, from_me: boolean, people: Array<{address: string, name: string | null, role: string}>}} */ (/** @type {unknown} */ (v));
      for (const p of m.people) {
        const t = tallies.get(p.address) ?? { messages: 0, from: 0, to: 0, sentByMe: 0, first: null, last: null, lastSentByMe: null, names: new Map(), firstName: null };
        t.messages++;
        if (p.role === 'from') t.from++;
        else {
          t.to++;
          if (m.from_me) {
            t.sentByMe++;
            t.lastSentByMe = max(t.lastSentByMe, m.timestamp);
          }
        }
        t.first = min(t.first, m.timestamp);
        t.last = max(t.last, m.timestamp);
        if (p.name) {
          t.names.set(p.name, (t.names.get(p.name) ?? 0) + 1);
          t.firstName ??= p.name;
        }
        tallies.set(p.address, t);
      }
    }
    const addresses = [...tallies.keys()].sort();
    const olds = rd.openMany(addresses.map((a) => [['identity', ['email', a]], 'rd.identity']));
    /** @type {Map<string, {identities: Set<string>, messages: number, from: number, sentByMe: number, first: number | null, last: number | null, lastSentByMe: number | null, name: string | null}>} */
    const contacts = new Map();
    const mine = new Set(rd.myIdentities().map((k) => String(k[1]).toLowerCase()));
    addresses.forEach((address, i) => {
      const t = /** @type {Tally} */ (tallies.get(address));
      const old = olds[i];
      const n = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : 0);
      const o = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : null);
      const names = new Map(Array.isArray(old?.names) ? old.names.map((e) => /** @type {[string, number]} */ ([/** @type {{name: string}} */ (e).name, /** @type {{count: number}} */ (e).count])) : []);
      for (const [name, count] of t.names) names.set(name, (names.get(name) ?? 0) + count);
      const ranked = [...names].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, maxNames);
      const contactId = typeof old?.contact_id === 'string' ? old.contact_id : contactFor(address, t.firstName);
      const fields = {
        address,
        name: ranked[0]?.[0] ?? null,
        names: ranked.map(([name, count]) => ({ name, count })),
        mine: mine.has(address),
        message_count: n('message_count') + t.messages,
        from_count: n('from_count') + t.from,
        to_count: n('to_count') + t.to,
        sent_by_me_count: n('sent_by_me_count') + t.sentByMe,
        first_seen: min(o('first_seen'), t.first),
        last_seen: max(o('last_seen'), t.last),
        last_sent_by_me: max(o('last_sent_by_me'), t.lastSentByMe),
        contact_id: contactId,
      };
      rd.emit('rd.identity', fields, { key: ['identity', ['email', address]] });
      const c = contacts.get(contactId) ?? { identities: new Set(), messages: 0, from: 0, sentByMe: 0, first: null, last: null, lastSentByMe: null, name: null };
      c.identities.add(address);
      c.messages += t.messages;
      c.from += t.from;
      c.sentByMe += t.sentByMe;
      c.first = min(c.first, t.first);
      c.last = max(c.last, t.last);
      c.lastSentByMe = max(c.lastSentByMe, t.lastSentByMe);
      c.name ??= fields.name;
      contacts.set(contactId, c);
    });
    const ids = [...contacts.keys()].sort();
    const oldContacts = rd.openMany(ids.map((id) => [['contact', id], 'rd.contact']));
    ids.forEach((id, i) => {
      const c = /** @type {NonNullable<ReturnType<typeof contacts.get>>} */ (contacts.get(id));
      const old = oldContacts[i];
      const n = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : 0);
      const o = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : null);
      const identities = [...new Set([...(Array.isArray(old?.identities) ? old.identities.map((k) => String(/** @type {Json[]} */ (k)[1])) : []), ...c.identities])].sort().slice(0, maxContactIdentities);
      const sentByMe = n('sent_by_me_count') + c.sentByMe;
      rd.emit('rd.contact', {
        name: typeof old?.name === 'string' ? old.name : c.name,
        identities: identities.map((a) => ['email', a]),
        message_count: n('message_count') + c.messages,
        from_count: n('from_count') + c.from,
        sent_by_me_count: sentByMe,
        correspondent: sentByMe > 0,
        first_seen: min(o('first_seen'), c.first),
        last_seen: max(o('last_seen'), c.last),
        last_sent_by_me: max(o('last_sent_by_me'), c.lastSentByMe),
      }, { key: ['contact', id] });
    });
  },
};
