// @ts-check
// rd.msg.conversation (one per message) and rd.conv.summary (one per conversation) <-
// rd.msg.thread. A conversation is a connected set of messages; edges are cleaned
// references (through placeholder parents: ids referenced but not present) and, for a
// reply with no references at all, the subject fallback (same base subject, a shared
// participant, within 30 days). Each message walks its whole set by key
// (rd.msg.thread, the reverse index rd.msg.referenced-by, and for the subject fallback
// rd.conv.subject-index when the message is itself a reply without references, else
// rd.conv.subject-seekers, the only messages of its subject it could be linked to) and
// declares every document it looked at as a dependency, so when a missing parent
// arrives, or a new message links in, every member runs again. The conversation's key
// is ["conv", smallest Message-ID of its messages] and its summary is written by that
// message only (one source per document): the result does not depend on arrival order.

/** @typedef {import('./types/raindrop').Json} Json */
/** @typedef {import('./types/raindrop').Key} Key */
/** @typedef {{message_id: string, references: string[], parent_id: string | null, subject: string | null, base_subject: string | null, reply_prefix: boolean, from: {name?: string, address?: string} | null, participants: string[], timestamp: number | null}} Thread */

const maxNodes = 5000;
const subjectWindow = 30 * 24 * 3600;

/** The subject fallback: only a reply that carries no references joins on its subject. */
const seeker = (/** @type {Thread} */ t) => t.reply_prefix && t.references.length === 0;
const subjectLinked = (/** @type {Thread} */ a, /** @type {Thread} */ b) => {
  if (a.message_id === b.message_id || a.base_subject === null || a.base_subject !== b.base_subject) return false;
  if (!seeker(a) && !seeker(b)) return false;
  if (a.timestamp === null || b.timestamp === null || Math.abs(a.timestamp - b.timestamp) > subjectWindow) return false;
  return a.participants.some((p) => b.participants.includes(p));
};

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.conversation',
  source_schemas: ['rd.msg.thread'],
  emits: ['rd.msg.conversation', 'rd.conv.summary'],
  reads: ['rd.msg.thread', 'rd.msg.referenced-by', 'rd.conv.subject-index', 'rd.conv.subject-seekers', 'rd.msg.seen', 'rd.msg.flagged', 'rd.msg.archived', 'rd.msg.deleted', 'rd.msg.grouping-tag'],
  category: 'provider',
  confidence: 1,
  uses_dependencies: true,
  handler(doc, rd) {
    const self = /** @type {Thread} */ (/** @type {unknown} */ (doc));
    const own = String(doc.rd_key[1]);
    /** @type {Map<string, Thread | null>} */
    const threads = new Map([[own, self]]);
    /** @type {Map<string, string[]>} */
    const reverse = new Map();
    /** Subject lists read, by schema and base subject: a reply without references may be
     * linked to any message of its subject (rd.conv.subject-index), any other message
     * only to such replies (rd.conv.subject-seekers, a much shorter list). */
    /** @type {Map<string, string[]>} */
    const bySubject = new Map();
    /** @type {Map<string, string[]>} */
    const seekersBySubject = new Map();
    /** The list a message's subject fallback looks through. */
    const subjectListOf = (/** @type {Thread | null | undefined} */ t) => (t && t.base_subject !== null ? (seeker(t) ? bySubject : seekersBySubject).get(t.base_subject) ?? [] : []);
    /** Reads the lists of these base subjects not read yet (one host call per schema). */
    const loadSubjects = (/** @type {Map<string, string[]>} */ into, /** @type {string} */ schema, /** @type {Array<string | null | undefined>} */ bases) => {
      const todo = [...new Set(bases.filter((b) => typeof b === 'string' && !into.has(b)))].sort();
      if (todo.length === 0) return;
      const docs = rd.openMany(todo.map((b) => [['subject', /** @type {string} */ (b)], schema]));
      todo.forEach((b, i) => into.set(/** @type {string} */ (b), /** @type {string[]} */ (docs[i]?.message_ids ?? [])));
    };
    /** @type {Array<[Key, string]>} */
    const deps = [];

    /** Opens rd.msg.thread of ids not yet known (one host call). */
    const loadThreads = (/** @type {string[]} */ ids) => {
      const todo = [...new Set(ids)].filter((id) => !threads.has(id));
      if (todo.length === 0) return;
      const docs = rd.openMany(todo.map((id) => [['email', id], 'rd.msg.thread']));
      todo.forEach((id, i) => threads.set(id, /** @type {Thread | null} */ (/** @type {unknown} */ (docs[i]))));
    };

    const visited = new Set([own]);
    let frontier = [own];
    while (frontier.length > 0 && visited.size < maxNodes) {
      loadThreads(frontier);
      const fresh = frontier.filter((id) => !reverse.has(id));
      const rev = rd.openMany(fresh.map((id) => [['email', id], 'rd.msg.referenced-by']));
      fresh.forEach((id, i) => reverse.set(id, /** @type {string[]} */ (rev[i]?.referenced_by ?? [])));
      const frontierThreads = frontier.map((id) => threads.get(id) ?? null);
      loadSubjects(bySubject, 'rd.conv.subject-index', frontierThreads.filter((t) => t && seeker(t)).map((t) => t?.base_subject));
      loadSubjects(seekersBySubject, 'rd.conv.subject-seekers', frontierThreads.filter((t) => t && !seeker(t)).map((t) => t?.base_subject));
      // Candidates from the reverse indexes are checked against their own rd.msg.thread.
      loadThreads(frontier.flatMap((id) => [...(reverse.get(id) ?? []), ...subjectListOf(threads.get(id))]));
      /** @type {string[]} */
      const next = [];
      const link = (/** @type {string} */ id) => {
        if (visited.has(id)) return;
        visited.add(id);
        next.push(id);
      };
      for (const id of frontier) {
        const t = threads.get(id) ?? null;
        for (const r of t?.references ?? []) link(r);
        for (const child of reverse.get(id) ?? []) {
          if (threads.get(child)?.references.includes(id)) link(child);
        }
        if (t && t.base_subject !== null) {
          for (const other of subjectListOf(t)) {
            const o = threads.get(other);
            if (o && subjectLinked(t, o)) link(other);
          }
        }
      }
      frontier = next.sort();
    }

    const nodes = [...visited].sort();
    for (const id of nodes) deps.push([['email', id], 'rd.msg.thread'], [['email', id], 'rd.msg.referenced-by']);
    for (const b of [...bySubject.keys()].sort()) deps.push([['subject', b], 'rd.conv.subject-index']);
    for (const b of [...seekersBySubject.keys()].sort()) deps.push([['subject', b], 'rd.conv.subject-seekers']);
    const members = nodes.filter((id) => threads.get(id));
    const convId = members[0] ?? own;
    /** @type {Key} */
    const convKey = ['conv', convId];
    const joinedBySubject = self.references.length === 0 && members.length > 1 && !(reverse.get(own) ?? []).some((c) => threads.get(c)?.references.includes(own));
    rd.emit('rd.msg.conversation', { conversation_id: convKey, parent_id: self.parent_id ?? null, joined_by_subject: joinedBySubject }, { deps });
    if (convId !== own) return;

    const ordered = members.map((id) => /** @type {Thread} */ (threads.get(id))).sort((a, b) => {
      const ta = a.timestamp ?? Infinity;
      const tb = b.timestamp ?? Infinity;
      return ta !== tb ? ta - tb : a.message_id < b.message_id ? -1 : a.message_id > b.message_id ? 1 : 0;
    });
    // The user state of every member, and its grouping: one host call.
    const stateSchemas = ['rd.msg.seen', 'rd.msg.flagged', 'rd.msg.archived', 'rd.msg.deleted', 'rd.msg.grouping-tag'];
    /** @type {Array<[Key, string]>} */
    const stateDeps = ordered.flatMap((t) => stateSchemas.map((schema) => /** @type {[Key, string]} */ ([['email', t.message_id], schema])));
    const states = rd.openMany(stateDeps);
    const stateOf = (/** @type {number} */ i, /** @type {number} */ k) => states[i * stateSchemas.length + k] ?? null;
    const deleted = ordered.filter((t, i) => stateOf(i, 3)?.deleted === true).map((t) => t.message_id);
    const unread = ordered.filter((t, i) => stateOf(i, 0)?.seen !== true && stateOf(i, 3)?.deleted !== true).map((t) => t.message_id);
    const flagged = ordered.filter((t, i) => stateOf(i, 1)?.flagged === true && stateOf(i, 3)?.deleted !== true).map((t) => t.message_id);
    const live = ordered.filter((t, i) => stateOf(i, 3)?.deleted !== true);
    const archived = live.length > 0 && ordered.every((t, i) => stateOf(i, 3)?.deleted === true || stateOf(i, 2)?.archived === true);
    /** @type {Record<string, number | null>} */
    const groupings = {};
    ordered.forEach((t, i) => {
      const g = stateOf(i, 4)?.grouping_id;
      if (typeof g !== 'string' || stateOf(i, 3)?.deleted === true) return;
      const before = groupings[g] ?? null;
      groupings[g] = t.timestamp === null ? before : before === null ? t.timestamp : Math.max(before, t.timestamp);
    });
    /** @type {Json[]} */
    const participants = [];
    const counted = new Set();
    for (const t of ordered) {
      const address = t.from?.address ?? t.from?.name;
      if (!address || counted.has(address)) continue;
      counted.add(address);
      participants.push({ ...(t.from?.name !== undefined ? { name: t.from.name } : {}), ...(t.from?.address !== undefined ? { address: t.from.address } : {}) });
    }
    const first = /** @type {Thread} */ (ordered[0]);
    const latest = /** @type {Thread} */ (ordered[ordered.length - 1]);
    const stamps = ordered.map((t) => t.timestamp).filter((t) => t !== null);
    rd.emit('rd.conv.summary', {
      subject: first.subject,
      participants,
      message_ids: ordered.map((t) => t.message_id),
      unread_ids: unread,
      missing_ids: nodes.filter((id) => !threads.get(id)),
      first_id: first.message_id,
      latest_id: latest.message_id,
      message_count: ordered.length,
      unread_count: unread.length,
      first_timestamp: stamps.length > 0 ? Math.min(...stamps) : null,
      latest_timestamp: stamps.length > 0 ? Math.max(...stamps) : null,
      flagged_ids: flagged,
      deleted_ids: deleted,
      archived,
      groupings,
    }, { key: convKey, deps: stateDeps });
  },
};
