/** The shell: session check, login, navigation, toasts, shortcut help, live feed. */
import { Fragment, render } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useState } from 'preact/hooks';
import { Database, locate, session, whenSessionEnds, type Session } from './data/couch.js';
import { LiveFeed } from './data/live.js';
import { App, type Toast } from './ui/app-context.js';
import { go, href, parseRoute, useRoute } from './ui/router.js';
import { prefetchConversation } from './data/mail.js';
import { shortcutHelp, useKeys } from './ui/keys.js';
import { Login } from './screens/login.js';
import { Inflow } from './screens/inflow.js';
import { ConversationList } from './screens/conversation-list.js';
import { ConversationScreen } from './screens/conversation.js';
import { Contacts, Lists } from './screens/directory.js';
import { Status } from './screens/status.js';
import { ContactScreen } from './screens/contact.js';
import { Compose } from './screens/compose.js';
import { SearchBox, SearchResults } from './screens/search.js';

const toastMs = 10_000;

function Shell({ user, admin, resumed, onLogout }: { user: string; admin: boolean; resumed: number; onLogout: () => void }) {
  const db = useMemo(() => new Database(locate()), []);
  // The feed stops when the session ends; a new one follows once the user is back.
  const live = useMemo(() => new LiveFeed(db), [db, resumed]);
  const [toast, setToast] = useState<Toast | undefined>();
  const [help, setHelp] = useState(false);
  const route = useRoute();
  useEffect(() => {
    live.start();
    return () => live.close();
  }, [live]);
  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(undefined), toastMs);
    return () => clearTimeout(t);
  }, [toast]);
  useKeys({ '?': () => setHelp((h) => !h), c: () => go(href.compose()), Escape: () => setHelp(false), i: () => go(href.inflow()) });
  const ctx = useMemo(() => ({ db, live, user, admin, resumed, toast: setToast }), [db, live, user, admin, resumed]);
  let screen;
  switch (route.screen) {
    case 'inflow': screen = <Inflow />; break;
    case 'list': screen = <ConversationList grouping={route.grouping} />; break;
    case 'conversation': screen = <ConversationScreen id={route.id} {...(route.from ? { from: route.from } : {})} />; break;
    case 'compose': screen = <Compose route={route} />; break;
    case 'contacts': screen = <Contacts />; break;
    case 'contact': screen = <ContactScreen key={route.id} id={route.id} />; break;
    case 'lists': screen = <Lists />; break;
    case 'status': screen = <Status />; break;
    case 'search': screen = <SearchResults query={route.query} newest={route.newest} />; break;
  }
  return (
    <App.Provider value={ctx}>
      <header class="top">
        <a class="brand" href={href.inflow()}>Raindrop</a>
        <nav aria-label="Main">
          <a href={href.inflow()} aria-current={route.screen === 'inflow' ? 'page' : undefined}>Inflow</a>
          <a href="#/contacts" aria-current={route.screen === 'contacts' ? 'page' : undefined}>Contacts</a>
          <a href="#/lists" aria-current={route.screen === 'lists' ? 'page' : undefined}>Lists</a>
          <a href="#/status" aria-current={route.screen === 'status' ? 'page' : undefined}>Status</a>
          <a href={href.compose()} class="compose">Compose</a>
        </nav>
        {db.where.served && <SearchBox initial={route.screen === 'search' ? route.query : ''} />}
        <span class="user">{user}</span>
        <button type="button" class="logout" onClick={onLogout}>Log out</button>
      </header>
      <main id="main">{screen}</main>
      <div class="toast" role="status" aria-live="polite">
        {toast && <>{toast.text}{toast.undo && <button type="button" class="undo" onClick={() => { toast.undo?.(); setToast({ text: 'Undone' }); }}>Undo</button>}</>}
      </div>
      {help && (
        <dialog open class="help" aria-labelledby="help-title">
          <h2 id="help-title">Keyboard shortcuts</h2>
          <dl>{shortcutHelp.map(([k, what]) => <Fragment key={k}><dt><kbd>{k}</kbd></dt><dd>{what}</dd></Fragment>)}</dl>
          <button type="button" onClick={() => setHelp(false)}>Close</button>
        </dialog>
      )}
    </App.Provider>
  );
}

type RootState =
  | { kind: 'loading' }
  | { kind: 'login'; ended: boolean }
  /** `ended`: the session ended while the app was open; the screens stay as they were
   * (a draft keeps what was typed) under the login form. `resumed` counts the returns. */
  | { kind: 'in'; session: Session; ended: boolean; resumed: number };

/**
 * Started as the module runs, before anything renders (a Preact effect would wait for the
 * next frame): the session check and, opened on a conversation's URL, its documents
 * beside it rather than after it. Without a session the prefetch is refused quietly and
 * the screen loads again after the login.
 */
const firstSession = session.current();
firstSession.catch(() => undefined);
const firstRoute = parseRoute(location.hash);
if (firstRoute.screen === 'conversation') prefetchConversation(new Database(locate(), true), firstRoute.id);

function Root() {
  const [state, setState] = useState<RootState>({ kind: 'loading' });
  // A layout effect runs as the tree is committed, not a frame later: the answer to the
  // session check (often already in) shows the screen at once.
  useLayoutEffect(() => {
    whenSessionEnds(() => setState((s) => (s.kind === 'in' ? { ...s, ended: true } : { kind: 'login', ended: true })));
    firstSession.then(
      (s) => setState(s.name ? { kind: 'in', session: s, ended: false, resumed: 0 } : { kind: 'login', ended: false }),
      () => setState({ kind: 'login', ended: false }),
    );
  }, []);
  if (state.kind === 'loading') return <p class="loading" aria-busy="true">Loading…</p>;
  if (state.kind === 'login') return <Login ended={state.ended} onLogin={(s) => setState({ kind: 'in', session: s, ended: false, resumed: 0 })} />;
  const logout = () => void session.logout().finally(() => setState({ kind: 'login', ended: false }));
  const { session: current, ended, resumed } = state;
  // Someone else logging in gets a fresh app, not the previous user's screens.
  const back = (s: Session) => setState(s.name === current.name ? { kind: 'in', session: s, ended: false, resumed: resumed + 1 } : { kind: 'in', session: s, ended: false, resumed: 0 });
  return (
    <>
      <div class="shell" inert={ended} key={current.name ?? ''}>
        <Shell user={current.name ?? ''} admin={current.roles.includes('_admin')} resumed={resumed} onLogout={logout} />
      </div>
      {ended && <Login ended overlay onLogin={back} />}
    </>
  );
}

const mount = document.getElementById('app');
if (mount) render(<Root />, mount);
