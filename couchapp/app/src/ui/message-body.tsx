/**
 * A message's content. Text: the sender's own words shown, quoted text, signatures and
 * list footers folded (rd.msg.body.quoted). HTML: the sanitized HTML (rd.msg.body.html)
 * in a sandboxed frame without scripts, forms or top navigation, under its own CSP;
 * remote images stay blocked (the sanitizer moved their URL to data-rd-src) until the
 * user asks for them.
 */
import { useMemo, useRef } from 'preact/hooks';
import type { QuotedPart } from '../data/mail.js';

const folded: Record<string, string> = {
  quote: 'quoted text', attribution: 'quoted text', original: 'original message', signature: 'signature', footer: 'list footer',
};

/** Own text as paragraphs; runs of folded parts as one closed <details>. */
export function TextBody({ parts, text }: { parts: QuotedPart[] | undefined; text: string }) {
  if (!parts || parts.length === 0) return <div class="text">{text || <em>(no text)</em>}</div>;
  const groups: Array<{ fold: boolean; parts: QuotedPart[] }> = [];
  for (const p of parts) {
    const fold = p.type in folded;
    const last = groups[groups.length - 1];
    if (last && last.fold === fold) last.parts.push(p);
    else groups.push({ fold, parts: [p] });
  }
  return (
    <div class="text">
      {groups.map((g, i) => g.fold ? (
        <details key={i} class="folded">
          <summary>{[...new Set(g.parts.map((p) => folded[p.type]))].join(', ')}</summary>
          {g.parts.map((p, j) => <div key={j} class={`part ${p.type}`}>{p.text}</div>)}
        </details>
      ) : g.parts.map((p, j) => <div key={`${i}.${j}`} class={`part ${p.type}`}>{p.type === 'forward' && <strong class="forward-label">Forwarded message</strong>}{p.text}</div>))}
    </div>
  );
}

export function hasRemoteImages(html: string): boolean {
  return /\bdata-rd-src\s*=/.test(html);
}

/** The frame's document: the sanitized HTML, parsed inert (DOMParser runs nothing and
 * loads nothing), remote images restored only when asked, under a CSP of its own that
 * allows no script and, unless asked, no remote image either. */
export function frameDocument(html: string, showImages: boolean, frameCss: string): string {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  for (const img of Array.from(doc.querySelectorAll('[data-rd-src]'))) {
    const src = img.getAttribute('data-rd-src') ?? '';
    if (showImages && /^https?:\/\//i.test(src)) img.setAttribute('src', src);
  }
  for (const a of Array.from(doc.querySelectorAll('a[href]'))) a.setAttribute('rel', 'noopener noreferrer');
  const imgSrc = showImages ? 'data: http: https:' : 'data:';
  const csp = `default-src 'none'; style-src ${new URL(frameCss).origin}; img-src ${imgSrc}; form-action 'none'; base-uri 'none'`;
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><meta name="referrer" content="no-referrer"><base target="_blank"><link rel="stylesheet" href="${frameCss}"></head><body>${doc.body.innerHTML}</body></html>`;
}

export function HtmlBody({ html, showImages }: { html: string; showImages: boolean }) {
  const frame = useRef<HTMLIFrameElement>(null);
  const srcdoc = useMemo(() => frameDocument(html, showImages, new URL('frame.css', location.href).href), [html, showImages]);
  const fit = () => {
    const d = frame.current?.contentDocument;
    if (frame.current && d?.documentElement) frame.current.style.height = `${Math.min(d.documentElement.scrollHeight + 16, 20000)}px`;
  };
  // No allow-scripts, no allow-forms, no allow-top-navigation: the frame runs nothing and
  // navigates nothing; links open in a new tab. allow-same-origin only lets the app
  // measure the frame's height (without scripts the frame itself can do nothing with it).
  return <iframe ref={frame} class="html-body" title="Message (HTML)" sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" srcdoc={srcdoc} onLoad={fit} />;
}
