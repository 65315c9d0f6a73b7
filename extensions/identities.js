// @ts-check
// rd.msg.identities (per message), rd.identity (per address) and rd.contact (per person)
// <- rd.msg.email. Every address a message names becomes an identity
// ["identity", ["email", address]] with the display names used for it, how often and how
// recently it was seen, and the relationship: mail from it, mail to it, and mail the user
// sent to it (from one of rd.myIdentities()).
//
// Everything here is a function of the set of messages seen, never of how they were cut
// into batches (kill -9, several workers, unprocess + process all end alike):
// - counts and timestamps are sums and min/max, which do not care about order;
// - an identity keeps the counts of at most `maxNames` display names, chosen by a fixed
//   hash of the name (the `maxNames` smallest), not by arrival: a name kept at the end
//   was kept all along, so its count is exact; occurrences of the others are summed in
//   `names_dropped`. A person's address is seen with a handful of spellings; more than
//   `maxNames` means an address many people write as (a list rewriting From to
//   "X via list", a shared desk), and its names are not its own;
// - an identity's contact is its most used personal name (two to five words, not a role
//   such as "via list" or "support team"), lower-cased, ties broken by the name:
//   ["contact", that name]; an identity with no personal name, or with dropped names, is
//   its own contact ["contact", its address]. It moves when its names say so;
// - a contact's figures are recomputed from its current member identities (sums, min,
//   max), its name is the most used display name among them (one matching the contact's
//   name first), and a contact left without members is retracted (rd.retract).
//
// Counts grow when a message is first seen by this extension (it has no rd.msg.identities
// yet), so re-running on the same message never counts it twice.

/** @typedef {import('./types/raindrop').Json} Json */

/** Display names an identity keeps counts for (see above; ~4 KB at most per identity). */
const maxNames = 20;
/** Members a contact lists and sums over. Membership is exact below it; only a display
 * name shared by more addresses than this (in practice, an attack) loses exactness. */
const maxContactIdentities = 1000;
/** Names that describe a role or a robot, not a person, and so never join identities. */
const roleWords = /\b(?:via|list|lists|team|support|service|services|noreply|no-reply|notifications?|mailer|daemon|admin|administrator|info|bot|robot|postmaster|newsletter|news|sales|billing|help|desk|on behalf of|the)\b/i;

/** The lower-cased form of a personal name (one that can name a contact), else null. */
const personalName = (/** @type {string} */ name) => {
  const n = name.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
  const words = n.split(' ').filter((w) => w.length > 0);
  const personal = words.length >= 2 && words.length <= 5 && words.every((w) => /^[\p{L}][\p{L}\p{M}.'’-]*$/u.test(w)) && !roleWords.test(n) && !n.includes('@');
  return personal ? n : null;
};

/** Code-unit order, so that ties break the same everywhere (no locale). */
const byText = (/** @type {string} */ a, /** @type {string} */ b) => (a < b ? -1 : a > b ? 1 : 0);

/** Most used first, ties by name. */
const ranked = (/** @type {Map<string, number>} */ counts) => [...counts].sort((a, b) => b[1] - a[1] || byText(a[0], b[0]));

/** FNV-1a (32 bits) of a name: which names an identity keeps (see above). */
const nameHash = (/** @type {string} */ s) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
};

/** The contact of an identity: a function of its address and its names with their counts. */
const contactOf = (/** @type {string} */ address, /** @type {Map<string, number>} */ names, /** @type {number} */ dropped) => {
  if (dropped > 0) return address;
  /** @type {Map<string, number>} */
  const personal = new Map();
  for (const [name, count] of names) {
    const p = personalName(name);
    if (p !== null) personal.set(p, (personal.get(p) ?? 0) + count);
  }
  return ranked(personal)[0]?.[0] ?? address;
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
    /** @typedef {{messages: number, from: number, to: number, sentByMe: number, first: number | null, last: number | null, lastSentByMe: number | null, names: Map<string, number>}} Tally */
    /** @type {Map<string, Tally>} */
    const tallies = new Map();
    const min = (/** @type {number | null} */ a, /** @type {number | null} */ b) => (a === null ? b : b === null ? a : Math.min(a, b));
    const max = (/** @type {number | null} */ a, /** @type {number | null} */ b) => (a === null ? b : b === null ? a : Math.max(a, b));
    for (const v of values) {
      const m = /** @type {{timestamp: number | null, from_me: boolean, people: Array<{address: string, name: string | null, role: string}>}} */ (/** @type {unknown} */ (v));
      for (const p of m.people) {
        const t = tallies.get(p.address) ?? { messages: 0, from: 0, to: 0, sentByMe: 0, first: null, last: null, lastSentByMe: null, names: new Map() };
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
        if (p.name) t.names.set(p.name, (t.names.get(p.name) ?? 0) + 1);
        tallies.set(p.address, t);
      }
    }
    const addresses = [...tallies.keys()].sort(byText);
    const olds = rd.openMany(addresses.map((a) => [['identity', ['email', a]], 'rd.identity']));
    const mine = new Set(rd.myIdentities().map((k) => String(k[1]).toLowerCase()));
    /** @typedef {{names: Array<{name: string, count: number}>, message_count: number, from_count: number, sent_by_me_count: number, first_seen: number | null, last_seen: number | null, last_sent_by_me: number | null, contact_id: string}} IdentityFigures */
    /** The identities this batch wrote, as written (rd.open does not see this run's emits). @type {Map<string, IdentityFigures>} */
    const written = new Map();
    /** Contacts to recompute: every contact an identity of this batch is in or has left. */
    const affected = new Set();
    addresses.forEach((address, i) => {
      const t = /** @type {Tally} */ (tallies.get(address));
      const old = olds[i];
      const n = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : 0);
      const o = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : null);
      const names = new Map(Array.isArray(old?.names) ? old.names.map((e) => /** @type {[string, number]} */ ([/** @type {{name: string}} */ (e).name, /** @type {{count: number}} */ (e).count])) : []);
      let dropped = n('names_dropped');
      for (const [name, count] of t.names) names.set(name, (names.get(name) ?? 0) + count);
      if (names.size > maxNames) {
        const byHash = [...names.keys()].sort((a, b) => nameHash(a) - nameHash(b) || byText(a, b));
        for (const name of byHash.slice(maxNames)) {
          dropped += /** @type {number} */ (names.get(name));
          names.delete(name);
        }
      }
      const list = ranked(names).map(([name, count]) => ({ name, count }));
      const contactId = contactOf(address, names, dropped);
      const fields = {
        address,
        name: list[0]?.name ?? null,
        names: list,
        names_dropped: dropped,
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
      written.set(address, fields);
      affected.add(contactId);
      if (typeof old?.contact_id === 'string') affected.add(old.contact_id);
    });

    const ids = [...affected].sort(byText);
    const oldContacts = rd.openMany(ids.map((id) => [['contact', id], 'rd.contact']));
    /** @type {Map<string, string[]>} */
    const members = new Map();
    ids.forEach((id, i) => {
      const listed = Array.isArray(oldContacts[i]?.identities) ? /** @type {Json[][]} */ (oldContacts[i]?.identities).map((k) => String(k[1])) : [];
      const set = new Set(listed.filter((a) => !written.has(a)));
      for (const [address, fields] of written) if (fields.contact_id === id) set.add(address);
      members.set(id, [...set].sort(byText).slice(0, maxContactIdentities));
    });
    // Members this batch did not touch are read as stored, so a contact is always the sum
    // of its members now, whatever happened to them in earlier batches.
    const untouched = [...new Set([...members.values()].flat().filter((a) => !written.has(a)))].sort(byText);
    const stored = rd.openMany(untouched.map((a) => [['identity', ['email', a]], 'rd.identity']));
    untouched.forEach((address, i) => {
      const doc = stored[i];
      const num = (/** @type {string} */ f) => (typeof doc?.[f] === 'number' ? /** @type {number} */ (doc[f]) : 0);
      const opt = (/** @type {string} */ f) => (typeof doc?.[f] === 'number' ? /** @type {number} */ (doc[f]) : null);
      written.set(address, {
        names: Array.isArray(doc?.names) ? /** @type {Array<{name: string, count: number}>} */ (/** @type {unknown} */ (doc.names)) : [],
        message_count: num('message_count'),
        from_count: num('from_count'),
        sent_by_me_count: num('sent_by_me_count'),
        first_seen: opt('first_seen'),
        last_seen: opt('last_seen'),
        last_sent_by_me: opt('last_sent_by_me'),
        contact_id: typeof doc?.contact_id === 'string' ? doc.contact_id : address,
      });
    });
    for (const id of ids) {
      const addressesOf = /** @type {string[]} */ (members.get(id)).filter((a) => written.get(a)?.contact_id === id);
      if (addressesOf.length === 0) {
        rd.retract(['contact', id], 'rd.contact');
        continue;
      }
      const c = { messages: 0, from: 0, sentByMe: 0, first: /** @type {number | null} */ (null), last: /** @type {number | null} */ (null), lastSentByMe: /** @type {number | null} */ (null) };
      /** @type {Map<string, number>} */
      const names = new Map();
      /** @type {Map<string, number>} */
      const matching = new Map();
      for (const address of addressesOf) {
        const f = /** @type {IdentityFigures} */ (written.get(address));
        c.messages += f.message_count;
        c.from += f.from_count;
        c.sentByMe += f.sent_by_me_count;
        c.first = min(c.first, f.first_seen);
        c.last = max(c.last, f.last_seen);
        c.lastSentByMe = max(c.lastSentByMe, f.last_sent_by_me);
        for (const { name, count } of f.names) {
          names.set(name, (names.get(name) ?? 0) + count);
          if (personalName(name) === id) matching.set(name, (matching.get(name) ?? 0) + count);
        }
      }
      rd.emit('rd.contact', {
        name: (ranked(matching)[0] ?? ranked(names)[0])?.[0] ?? null,
        identities: addressesOf.map((a) => ['email', a]),
        message_count: c.messages,
        from_count: c.from,
        sent_by_me_count: c.sentByMe,
        correspondent: c.sentByMe > 0,
        first_seen: c.first,
        last_seen: c.last,
        last_sent_by_me: c.lastSentByMe,
      }, { key: ['contact', id] });
    }
  },
};
