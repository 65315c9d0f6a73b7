/** Status: sync state per account, each extension's lag behind the changes feed, error
 * counts and records. "Retry" is the admin's (it makes the running queue run extension
 * code again); a member is told to ask the admin. Two view queries. */
import { useState } from 'preact/hooks';
import { loadStatus, requestRetry } from '../data/status.js';
import { useApp } from '../ui/app-context.js';
import { useLoad } from './directory.js';

export function Status() {
  const app = useApp();
  const { data, error } = useLoad(() => loadStatus(app.db), ['rd.core.sync-status', 'rd.core.error', 'rd.core.workqueue-state', 'rd.core.retry-request']);
  const [asked, setAsked] = useState<Record<string, string>>({});
  const retry = (ext: string) => {
    setAsked((a) => ({ ...a, [ext]: 'asked' }));
    requestRetry(app.db, ext).then(
      () => app.toast({ text: `Asked the queue to run ${ext} again on its errors` }),
      (e: Error) => setAsked((a) => ({ ...a, [ext]: `not asked: ${e.message}` })),
    );
  };
  return (
    <section aria-labelledby="status-title" class="status">
      <h1 id="status-title">Status</h1>
      {error && <p role="alert" class="error">{error}</p>}
      <h2>Accounts</h2>
      {data && data.accounts.length === 0 && <p class="empty">No mail account has synced yet (<code>raindrop account add</code>).</p>}
      <ul>{(data?.accounts ?? []).map((a) => <li key={a.account}><strong>{a.account}</strong>: {a.result}{a.finishedAt ? `, ${new Date(a.finishedAt).toLocaleString()}` : ''}{a.error ? ` — ${a.error}` : ''}</li>)}</ul>
      <h2>Queue</h2>
      <table class="queue-lag">
        <thead><tr><th scope="col">Extension</th><th scope="col">State</th><th scope="col">Lag (changes)</th></tr></thead>
        <tbody>{(data?.extensions ?? []).map((e) => <tr key={e.ext} data-ext={e.ext}><td>{e.ext}</td><td>{e.state}</td><td class="lag">{e.lag}{e.atLeast ? '+' : ''}</td></tr>)}</tbody>
      </table>
      <h2>Extension errors</h2>
      {data && data.counts.length === 0 && <p class="empty">None.</p>}
      <ul class="error-counts">{(data?.counts ?? []).map((c) => (
        <li key={c.ext} data-ext={c.ext}>
          {c.ext}: <span class="count">{c.count}</span>
          {app.admin && <button type="button" class="retry" disabled={asked[c.ext] === 'asked'} onClick={() => retry(c.ext)}>Retry</button>}
          {asked[c.ext] && asked[c.ext] !== 'asked' && <span role="alert" class="error"> {asked[c.ext]}</span>}
        </li>
      ))}</ul>
      {data && data.counts.length > 0 && !app.admin && <p class="hint">Retrying runs extension code, which only the admin may start: log in as the admin, or run <code>raindrop retry-errors</code>.</p>}
      {data && data.records.length > 0 && (
        <table class="error-records">
          <thead><tr><th scope="col">Extension</th><th scope="col">Kind</th><th scope="col">Document</th><th scope="col">Message</th></tr></thead>
          <tbody>{data.records.map((r) => <tr key={`${r.id}/${r.ext}`}><td>{r.ext}</td><td>{r.kind}</td><td class="source">{r.source}</td><td class="message">{r.message}</td></tr>)}</tbody>
        </table>
      )}
      {data?.moreRecords && <p class="hint">The first {data.records.length} records are listed; <code>raindrop errors --all</code> lists every one.</p>}
    </section>
  );
}
