/** What every screen gets from the shell: the database, the live feed, and the toast
 * line (messages with an optional undo). */
import { createContext } from 'preact';
import { useContext, useEffect, useRef } from 'preact/hooks';
import type { Database } from '../data/couch.js';
import type { LiveFeed } from '../data/live.js';

export interface Toast { text: string; undo?: () => void }

export interface AppContext {
  db: Database;
  live: LiveFeed;
  user: string;
  /** The login is a server admin (`_admin`): it may do what a member may not (retry). */
  admin: boolean;
  /** How often the user logged in again after the session ended (screens re-save). */
  resumed: number;
  toast: (t: Toast) => void;
}

export const App = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(App);
  if (!ctx) throw new Error('useApp outside the shell');
  return ctx;
}

/** Calls `reload` when a document of one of `schemas` changes, at most every 300 ms. */
export function useLive(schemas: readonly string[], reload: () => void): void {
  const { live } = useApp();
  const ref = useRef(reload);
  ref.current = reload;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.subscribe((changed) => {
      if (!schemas.some((s) => changed.has(s))) return;
      clearTimeout(timer);
      timer = setTimeout(() => ref.current(), 300);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [live, schemas.join(',')]);
}
