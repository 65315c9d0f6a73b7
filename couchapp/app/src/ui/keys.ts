/** Keyboard shortcuts: each screen registers what its keys do; typing in a field never
 * triggers one. */
import { useEffect, useRef } from 'preact/hooks';

export type KeyMap = Partial<Record<string, () => void>>;

export const shortcutHelp: Array<[string, string]> = [
  ['j / k', 'next / previous conversation'],
  ['o or Enter', 'open'],
  ['u', 'back to the list'],
  ['x', 'select the conversation'],
  ['e', 'archive'],
  ['#', 'delete'],
  ['s', 'flag / unflag'],
  ['Shift+U', 'mark unread'],
  ['r / a / f', 'reply / reply all / forward'],
  ['c', 'compose'],
  ['/', 'search'],
  ['g then i', 'go to the inflow'],
  ['?', 'show these shortcuts'],
];

export function useKeys(map: KeyMap): void {
  const ref = useRef(map);
  ref.current = map;
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      const action = ref.current[e.key];
      if (action) {
        e.preventDefault();
        action();
      }
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  }, []);
}
