/** The login form: CouchDB's cookie session (POST /_session), never a Basic pop-up. */
import { useState } from 'preact/hooks';
import { CouchError, session, type Session } from '../data/couch.js';

/** `overlay`: shown over the open app when the session ended, which stays as it was
 * (nothing typed is lost) and carries on after the login. */
export function Login({ onLogin, ended, overlay = false }: { onLogin: (s: Session) => void; ended: boolean; overlay?: boolean }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(ended ? 'Your session ended; log in again.' : '');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onLogin(await session.login(name, password));
    } catch (err) {
      setError(err instanceof CouchError && err.status === 401 ? 'Name or password is incorrect.' : `Could not log in: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const form = (
    <form onSubmit={submit} aria-labelledby="login-title">
      <h1 id="login-title">Raindrop</h1>
      <label>Name<input name="name" autocomplete="username" required autofocus={overlay} value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
      <label>Password<input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></label>
      {error && <p role="alert" class="error">{error}</p>}
      <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      <p class="hint">The login of this Raindrop server: <code>raindrop user add NAME</code> creates one, or use the admin's (<code>raindrop url --credentials</code>).</p>
    </form>
  );
  return overlay
    ? <div class="login overlay" role="dialog" aria-modal="true" aria-labelledby="login-title">{form}</div>
    : <main class="login">{form}</main>;
}
