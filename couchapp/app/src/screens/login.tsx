/** The login form: CouchDB's cookie session (POST /_session), never a Basic pop-up. */
import { useState } from 'preact/hooks';
import { CouchError, session, type Session } from '../data/couch.js';

export function Login({ onLogin, ended }: { onLogin: (s: Session) => void; ended: boolean }) {
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
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Raindrop</h1>
        <label>Name<input name="name" autocomplete="username" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <label>Password<input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></label>
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
        <p class="hint">The login of this Raindrop server: <code>raindrop user add NAME</code> creates one, or use the admin's (<code>raindrop url --credentials</code>).</p>
      </form>
    </main>
  );
}
