/** The triage actions shared by the list and the conversation: write the user-state
 * items, say what happened, offer undo for archive and delete. */
import { actions } from '../data/mail.js';
import type { AppContext } from './app-context.js';

export type Act = 'read' | 'unread' | 'flag' | 'unflag' | 'archive' | 'delete';

export async function runAction(app: AppContext, what: Act, messageIds: string[], conversations: number, after: () => void, undone: () => void = after): Promise<void> {
  const { db } = app;
  const n = `${conversations} conversation${conversations === 1 ? '' : 's'}`;
  try {
    switch (what) {
      case 'read': await actions.seen(db, messageIds, true); app.toast({ text: `Marked ${n} read` }); break;
      case 'unread': await actions.seen(db, messageIds, false); app.toast({ text: `Marked ${n} unread` }); break;
      case 'flag': await actions.flag(db, messageIds, true); app.toast({ text: `Flagged ${n}` }); break;
      case 'unflag': await actions.flag(db, messageIds, false); app.toast({ text: `Unflagged ${n}` }); break;
      case 'archive':
        await actions.archive(db, messageIds, true);
        app.toast({ text: `Archived ${n}`, undo: () => void actions.archive(db, messageIds, false).then(undone) });
        break;
      case 'delete':
        await actions.delete(db, messageIds, true);
        app.toast({ text: `Deleted ${n}`, undo: () => void actions.delete(db, messageIds, false).then(undone) });
        break;
    }
  } catch (err) {
    app.toast({ text: `Could not ${what}: ${(err as Error).message}` });
  }
  after();
}
