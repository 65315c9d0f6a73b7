/** Hash routes, so the app works from `/` and from a design document's attachment path
 * alike: #/ inflow, #/g/<grouping>, #/c/<conversation id>, #/compose, #/contacts,
 * #/p/<contact document id>, #/lists, #/status, #/search?q=<query>[&sort=newest]. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { screen: 'inflow' }
  | { screen: 'list'; grouping: string }
  | { screen: 'conversation'; id: string; from?: string }
  | { screen: 'compose'; mode: 'new' | 'reply' | 'all' | 'forward'; id?: string; draft?: string }
  | { screen: 'contacts' }
  | { screen: 'contact'; id: string }
  | { screen: 'lists' }
  | { screen: 'status' }
  | { screen: 'search'; query: string; newest: boolean };

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'g': return parts[1] ? { screen: 'list', grouping: parts[1] } : { screen: 'inflow' };
    case 'c': return parts[1] ? { screen: 'conversation', id: parts[1], ...(params.get('from') ? { from: params.get('from') as string } : {}) } : { screen: 'inflow' };
    case 'compose': {
      const mode = (['reply', 'all', 'forward'] as const).find((m) => m === params.get('mode')) ?? 'new';
      return { screen: 'compose', mode, ...(params.get('id') ? { id: params.get('id') as string } : {}), ...(params.get('draft') ? { draft: params.get('draft') as string } : {}) };
    }
    case 'contacts': return { screen: 'contacts' };
    case 'p': return parts[1] ? { screen: 'contact', id: parts[1] } : { screen: 'contacts' };
    case 'lists': return { screen: 'lists' };
    case 'status': return { screen: 'status' };
    case 'search': return params.get('q') ? { screen: 'search', query: params.get('q') as string, newest: params.get('sort') === 'newest' } : { screen: 'inflow' };
    default: return { screen: 'inflow' };
  }
}

export const href = {
  inflow: () => '#/',
  list: (g: string) => `#/g/${encodeURIComponent(g)}`,
  conversation: (id: string, from?: string) => `#/c/${encodeURIComponent(id)}${from ? `?from=${encodeURIComponent(from)}` : ''}`,
  search: (query: string, newest: boolean) => `#/search?q=${encodeURIComponent(query)}${newest ? '&sort=newest' : ''}`,
  contact: (docId: string) => `#/p/${encodeURIComponent(docId)}`,
  compose: (mode: 'new' | 'reply' | 'all' | 'forward' = 'new', id?: string) => `#/compose${mode === 'new' ? '' : `?mode=${mode}&id=${encodeURIComponent(id ?? '')}`}`,
};

export function go(hash: string): void {
  location.hash = hash;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
