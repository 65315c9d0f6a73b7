// @ts-check
// rd.msg.grouping-tag (per message), rd.grouping.info and rd.grouping.summary (per
// grouping) <- rd.msg.email, so the home screen is two view queries. A message goes to
// exactly one grouping, the first rule that matches:
//   sent            from one of the user's identities (rd.myIdentities())
//   bulk            the sender is marked bulk by the user (rd.identity.sender-flags)
//   notifications.* GitHub, GitLab, Jira, Bugzilla (their own headers or sender domain),
//                   calendar invitations (a text/calendar part)
//   list:<id>       a mailing list (List-Id, else List-Post), created when first seen
//   bulk            Precedence bulk/junk, Auto-Submitted, a newsletter (List-Unsubscribe
//                   without a list), or a no-reply / newsletter sender
//   personal        everything else
// A sender marked `bulk: false` is never bulk by the heuristics either. The message's
// user state (rd.msg.seen, rd.msg.flagged, rd.msg.archived, rd.msg.deleted) and the
// sender's flags are dependencies: when one changes the message is tagged again, and the
// summaries move by the difference between its previous tag and the new one, so the
// counts are exact without ever reading a grouping's messages.

/** @typedef {import('./types/raindrop').Json} Json */
/** @typedef {import('./types/raindrop').Key} Key */
/** @typedef {{grouping_id: string, seen: boolean, flagged: boolean, archived: boolean, deleted: boolean}} State */

/** The groupings that always exist, in home-screen order. */
const staticGroupings = [
  { id: 'personal', name: 'Personal', kind: 'personal' },
  { id: 'notifications.github', name: 'GitHub', kind: 'notifications' },
  { id: 'notifications.gitlab', name: 'GitLab', kind: 'notifications' },
  { id: 'notifications.jira', name: 'Jira', kind: 'notifications' },
  { id: 'notifications.bugzilla', name: 'Bugzilla', kind: 'notifications' },
  { id: 'calendar', name: 'Calendar invitations', kind: 'calendar' },
  { id: 'bulk', name: 'Bulk mail', kind: 'bulk' },
  { id: 'sent', name: 'Sent', kind: 'sent' },
];
/** Dynamic groupings (mailing lists) sort after the static ones. */
const listOrder = 100;

const bulkLocalPart = /^(?:no-?reply|do-?not-?reply|donotreply|newsletters?|news|marketing|mailer|bounces?|promotions?|offers|deals)(?:[+._-].*)?$/i;

/** @param {import('./types/raindrop').RdDocument} doc */
function classify(doc, /** @type {Set<string>} */ mine, /** @type {import('./types/raindrop').RdDocument | null} */ senderFlags) {
  const headers = Array.isArray(doc.headers) ? /** @type {Array<[string, string]>} */ (doc.headers) : [];
  const has = (/** @type {string} */ name) => headers.some((h) => h[0] === name);
  const value = (/** @type {string} */ name) => headers.find((h) => h[0] === name)?.[1] ?? '';
  const from = doc.from && typeof doc.from === 'object' ? String(/** @type {{address?: unknown}} */ (doc.from).address ?? '') : '';
  const domain = from.split('@')[1] ?? '';
  const list = /** @type {Record<string, unknown>} */ (doc.list && typeof doc.list === 'object' ? doc.list : {});
  const parts = Array.isArray(doc.parts) ? /** @type {Array<{content_type?: unknown}>} */ (doc.parts) : [];

  if (from && mine.has(from)) return { grouping_id: 'sent', kind: 'sent', reason: 'from one of my identities' };
  if (senderFlags?.bulk === true) return { grouping_id: 'bulk', kind: 'bulk', reason: 'sender marked bulk' };
  if (has('x-github-reason') || has('x-github-sender') || domain === 'github.com') return { grouping_id: 'notifications.github', kind: 'notifications', reason: 'GitHub' };
  if (has('x-gitlab-project') || has('x-gitlab-notificationreason') || /(^|\.)gitlab\.com$/.test(domain)) return { grouping_id: 'notifications.gitlab', kind: 'notifications', reason: 'GitLab' };
  if (has('x-jira-fingerprint') || /^jira@/.test(from) || /(^|\.)atlassian\.net$/.test(domain)) return { grouping_id: 'notifications.jira', kind: 'notifications', reason: 'Jira' };
  if (headers.some((h) => h[0].startsWith('x-bugzilla-'))) return { grouping_id: 'notifications.bugzilla', kind: 'notifications', reason: 'Bugzilla' };
  if (parts.some((p) => p.content_type === 'text/calendar' || p.content_type === 'application/ics')) return { grouping_id: 'calendar', kind: 'calendar', reason: 'calendar invitation' };
  const listId = typeof list.id === 'string' ? /<([^<>\s]+)>/.exec(list.id)?.[1] ?? (/^[^\s<>]+$/.test(list.id.trim()) ? list.id.trim() : null) : null;
  const listPost = typeof list.post === 'string' ? /<mailto:([^?>]+)/i.exec(list.post)?.[1] ?? null : null;
  const listKey = (listId ?? listPost)?.toLowerCase();
  if (listKey && /[.@]/.test(listKey)) return { grouping_id: `list:${listKey}`, kind: 'list', reason: listId ? 'List-Id' : 'List-Post' };
  if (senderFlags?.bulk !== false) {
    if (/^\s*(?:bulk|junk)\b/i.test(value('precedence'))) return { grouping_id: 'bulk', kind: 'bulk', reason: 'Precedence' };
    const auto = value('auto-submitted').trim().toLowerCase();
    if (auto !== '' && !auto.startsWith('no')) return { grouping_id: 'bulk', kind: 'bulk', reason: 'Auto-Submitted' };
    if (typeof list.unsubscribe === 'string') return { grouping_id: 'bulk', kind: 'bulk', reason: 'List-Unsubscribe' };
    if (bulkLocalPart.test(from.split('@')[0] ?? '')) return { grouping_id: 'bulk', kind: 'bulk', reason: 'no-reply sender' };
  }
  return { grouping_id: 'personal', kind: 'personal', reason: 'personal mail' };
}

/** What one message adds to its grouping's counts. */
const contribution = (/** @type {State | null} */ s) => (s === null
  ? { message: 0, inbox: 0, unread: 0, flagged: 0 }
  : {
    message: s.deleted ? 0 : 1,
    inbox: s.deleted || s.archived ? 0 : 1,
    unread: s.deleted || s.archived || s.seen ? 0 : 1,
    flagged: s.flagged && !s.deleted ? 1 : 0,
  });

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.grouping',
  source_schemas: ['rd.msg.email'],
  emits: ['rd.msg.grouping-tag', 'rd.grouping.info', 'rd.grouping.summary'],
  reads: ['rd.msg.grouping-tag', 'rd.grouping.info', 'rd.grouping.summary', 'rd.msg.seen', 'rd.msg.flagged', 'rd.msg.archived', 'rd.msg.deleted', 'rd.identity.sender-flags'],
  category: 'provider',
  confidence: 1,
  uses_dependencies: true,
  handler(doc, rd) {
    const key = doc.rd_key;
    const mine = new Set(rd.myIdentities().map((k) => String(k[1]).toLowerCase()));
    const from = doc.from && typeof doc.from === 'object' ? String(/** @type {{address?: unknown}} */ (doc.from).address ?? '').toLowerCase() : '';
    /** @type {Array<[Key, string]>} */
    const deps = [[key, 'rd.msg.seen'], [key, 'rd.msg.flagged'], [key, 'rd.msg.archived'], [key, 'rd.msg.deleted']];
    if (from) deps.push([['identity', ['email', from]], 'rd.identity.sender-flags']);
    const [previous, seen, flagged, archived, deleted, senderFlags] = rd.openMany([[key, 'rd.msg.grouping-tag'], ...deps]);
    const tag = classify(doc, mine, senderFlags ?? null);
    /** @type {State} */
    const state = {
      grouping_id: tag.grouping_id,
      seen: seen?.seen === true,
      flagged: flagged?.flagged === true,
      archived: archived?.archived === true,
      deleted: deleted?.deleted === true,
    };
    const timestamp = typeof doc.timestamp === 'number' ? doc.timestamp : null;
    rd.emit('rd.msg.grouping-tag', { ...tag, ...state, timestamp }, { deps });
    /** @type {State | null} */
    const before = previous && typeof previous.grouping_id === 'string'
      ? { grouping_id: previous.grouping_id, seen: previous.seen === true, flagged: previous.flagged === true, archived: previous.archived === true, deleted: previous.deleted === true }
      : null;
    if (before && JSON.stringify(before) === JSON.stringify(state)) return;
    const list = /** @type {Record<string, unknown>} */ (doc.list && typeof doc.list === 'object' ? doc.list : {});
    const listName = typeof list.id === 'string' ? list.id.replace(/<[^>]*>/, '').replace(/"/g, '').trim() : '';
    rd.later({ before, after: state, timestamp, kind: tag.kind, name: tag.kind === 'list' ? (listName || (tag.grouping_id.slice(5).split(/[.@]/)[0] ?? tag.grouping_id)) : null });
  },
  later_handler(values, rd) {
    /** @type {Map<string, {message: number, inbox: number, unread: number, flagged: number, latest: number | null, kind: string | null, name: string | null}>} */
    const deltas = new Map();
    const entry = (/** @type {string} */ id) => {
      const e = deltas.get(id) ?? { message: 0, inbox: 0, unread: 0, flagged: 0, latest: null, kind: null, name: null };
      deltas.set(id, e);
      return e;
    };
    for (const v of values) {
      const { before, after, timestamp, kind, name } = /** @type {{before: State | null, after: State, timestamp: number | null, kind: string, name: string | null}} */ (/** @type {unknown} */ (v));
      const minus = contribution(before);
      const plus = contribution(after);
      if (before) {
        const e = entry(before.grouping_id);
        e.message -= minus.message; e.inbox -= minus.inbox; e.unread -= minus.unread; e.flagged -= minus.flagged;
      }
      const e = entry(after.grouping_id);
      e.message += plus.message; e.inbox += plus.inbox; e.unread += plus.unread; e.flagged += plus.flagged;
      if (timestamp !== null && !after.deleted) e.latest = e.latest === null ? timestamp : Math.max(e.latest, timestamp);
      e.kind = kind;
      e.name ??= name;
    }
    for (const g of staticGroupings) entry(g.id);
    const ids = [...deltas.keys()].sort();
    const infos = rd.openMany(ids.map((id) => [['grouping', id], 'rd.grouping.info']));
    const summaries = rd.openMany(ids.map((id) => [['grouping', id], 'rd.grouping.summary']));
    ids.forEach((id, i) => {
      const d = /** @type {NonNullable<ReturnType<typeof deltas.get>>} */ (deltas.get(id));
      const fixed = staticGroupings.findIndex((g) => g.id === id);
      const info = infos[i];
      if (!info) {
        const s = staticGroupings[fixed];
        rd.emit('rd.grouping.info', s
          ? { grouping_id: id, name: s.name, kind: s.kind, static: true, order: fixed }
          : { grouping_id: id, name: d.name ?? id, kind: d.kind ?? 'list', static: false, order: listOrder, ...(id.startsWith('list:') ? { list_id: id.slice(5) } : {}) }, { key: ['grouping', id] });
      }
      const old = summaries[i];
      const n = (/** @type {string} */ f) => (typeof old?.[f] === 'number' ? /** @type {number} */ (old[f]) : 0);
      const oldLatest = typeof old?.latest_timestamp === 'number' ? old.latest_timestamp : null;
      rd.emit('rd.grouping.summary', {
        grouping_id: id,
        message_count: Math.max(0, n('message_count') + d.message),
        inbox_count: Math.max(0, n('inbox_count') + d.inbox),
        unread_count: Math.max(0, n('unread_count') + d.unread),
        flagged_count: Math.max(0, n('flagged_count') + d.flagged),
        latest_timestamp: oldLatest === null ? d.latest : d.latest === null ? oldLatest : Math.max(oldLatest, d.latest),
      }, { key: ['grouping', id] });
    });
  },
};
