// @ts-check
// rd.msg.email.mailing-list (per message) and rd.mailing-list (per list) <- rd.msg.email.
// A message belongs to a list when it carries RFC 2919 List-Id, or, failing that, an
// RFC 2369 List-Post address (old Mailman and ezmlm lists), which then names the list.
// The per-list item keeps the list's addresses from its newest message and counts the
// messages seen: the count grows when a message is first tagged (no earlier tag of this
// extension), so re-running on the same message never counts it twice.

/** @typedef {import('./types/raindrop').Json} Json */

/** The URLs of an RFC 2369 header: `<mailto:a@b?subject=x>, <https://...>` (comments and
 * text outside the brackets are ignored, as the RFC asks). */
const urls = (/** @type {unknown} */ value) => {
  if (typeof value !== 'string') return [];
  const found = [...value.matchAll(/<([^<>\s]{1,2000})>/g)].map((m) => /** @type {string} */ (m[1]));
  if (found.length > 0) return found.slice(0, 10);
  // Some lists send the URL bare.
  const bare = value.trim();
  return /^(?:mailto|https?):\S+$/i.test(bare) ? [bare] : [];
};

/** `mailto:list@host?subject=...` -> `list@host`. */
const mailtoAddress = (/** @type {string | undefined} */ url) => {
  const m = /^mailto:([^?]+)/i.exec(url ?? '');
  if (!m) return null;
  let address = /** @type {string} */ (m[1]);
  try { address = decodeURIComponent(address); } catch { /* keep the raw text */ }
  return address.includes('@') ? address.toLowerCase() : null;
};

/** RFC 2919: `Phrase <list-label.domain>`; the phrase may be quoted. Some senders omit
 * the brackets; a value with spaces and no brackets names no list. */
const parseListId = (/** @type {unknown} */ value) => {
  if (typeof value !== 'string') return null;
  const bracketed = /<([^<>\s]{1,250})>/.exec(value);
  const id = bracketed ? /** @type {string} */ (bracketed[1]) : /^[^\s<>]{3,250}$/.test(value.trim()) ? value.trim() : null;
  if (!id || !/[.@]/.test(id)) return null;
  const phrase = bracketed ? value.slice(0, bracketed.index).trim().replace(/^"(.*)"$/, '$1').trim() : '';
  return { id: id.toLowerCase(), name: phrase.length > 0 ? phrase.slice(0, 200) : null };
};

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.mailing-list',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.email.mailing-list', 'rd.mailing-list'],
  reads: ['rd.msg.email.mailing-list', 'rd.mailing-list'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const list = /** @type {Record<string, unknown>} */ (doc.list && typeof doc.list === 'object' ? doc.list : {});
    const post = urls(list.post);
    const postAddress = mailtoAddress(post[0]);
    const parsed = parseListId(list.id) ?? (postAddress ? { id: postAddress, name: null } : null);
    const previous = rd.open(doc.rd_key, 'rd.msg.email.mailing-list');
    const previousId = typeof previous?.list_id === 'string' ? previous.list_id : null;
    const timestamp = typeof doc.timestamp === 'number' ? doc.timestamp : null;
    if (!parsed) {
      // Not (or no longer) a list message: uncount it from the list it was counted in.
      if (previousId) rd.later({ list_id: previousId, delta: -1, timestamp: null, info: null });
      return;
    }
    /** @type {Record<string, Json>} */
    const info = {
      name: parsed.name,
      post: postAddress,
      posting_allowed: !(typeof list.post === 'string' && /^\s*NO\b/i.test(list.post)),
      help: urls(list.help),
      subscribe: urls(list.subscribe),
      unsubscribe: urls(list.unsubscribe),
      archive: urls(list.archive),
      owner: urls(list.owner),
    };
    rd.emit('rd.msg.email.mailing-list', { list_id: parsed.id, ...info });
    if (previousId === parsed.id) return;
    if (previousId) rd.later({ list_id: previousId, delta: -1, timestamp: null, info: null });
    rd.later({ list_id: parsed.id, delta: 1, timestamp, info });
  },
  later_handler(values, rd) {
    /** @type {Map<string, {delta: number, first: number | null, last: number | null, info: Record<string, Json> | null, infoAt: number}>} */
    const byList = new Map();
    for (const v of values) {
      const { list_id: id, delta, timestamp, info } = /** @type {{list_id: string, delta: number, timestamp: number | null, info: Record<string, Json> | null}} */ (/** @type {unknown} */ (v));
      const e = byList.get(id) ?? { delta: 0, first: null, last: null, info: null, infoAt: -Infinity };
      e.delta += delta;
      if (timestamp !== null) {
        e.first = e.first === null ? timestamp : Math.min(e.first, timestamp);
        e.last = e.last === null ? timestamp : Math.max(e.last, timestamp);
      }
      // The list's addresses as its newest message states them.
      if (info && (timestamp ?? -Infinity) >= e.infoAt) {
        e.info = info;
        e.infoAt = timestamp ?? -Infinity;
      }
      byList.set(id, e);
    }
    const ids = [...byList.keys()].sort();
    const existing = rd.openMany(ids.map((id) => [['mailing-list', id], 'rd.mailing-list']));
    ids.forEach((id, i) => {
      const e = /** @type {NonNullable<ReturnType<typeof byList.get>>} */ (byList.get(id));
      const old = existing[i];
      const oldLast = typeof old?.last_seen === 'number' ? old.last_seen : null;
      const oldFirst = typeof old?.first_seen === 'number' ? old.first_seen : null;
      const newer = e.info !== null && (oldLast === null || e.infoAt >= oldLast);
      const base = /** @type {Record<string, Json>} */ (old ? { name: old.name ?? null, post: old.post ?? null, posting_allowed: old.posting_allowed ?? true, help: old.help ?? [], subscribe: old.subscribe ?? [], unsubscribe: old.unsubscribe ?? [], archive: old.archive ?? [], owner: old.owner ?? [] } : {});
      const info = newer ? { ...base, ...e.info, name: e.info?.name ?? base.name ?? null } : old ? base : e.info;
      if (!info) return;
      const pick = (/** @type {number | null} */ a, /** @type {number | null} */ b, /** @type {(x: number, y: number) => number} */ f) => (a === null ? b : b === null ? a : f(a, b));
      rd.emit('rd.mailing-list', {
        ...info,
        list_id: id,
        message_count: Math.max(0, (typeof old?.message_count === 'number' ? old.message_count : 0) + e.delta),
        first_seen: pick(oldFirst, e.first, Math.min),
        last_seen: pick(oldLast, e.last, Math.max),
      }, { key: ['mailing-list', id] });
    });
  },
};
