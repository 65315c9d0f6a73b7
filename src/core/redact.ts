/**
 * Credentials must never reach an error message, a log line or `--json` output. Every
 * URL that leaves the couch layer goes through `redactUrl`; free text that may embed a
 * URL (a library's error message) goes through `redactText`.
 */

export function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(String(url));
    if (parsed.username || parsed.password) {
      parsed.username = '';
      parsed.password = '';
    }
    return parsed.toString();
  } catch {
    return redactText(String(url));
  }
}

/** Removes `user:password@` from any URL in the text, and known secrets verbatim. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && encoded.length > 0) out = out.split(encoded).join('***');
  }
  return out;
}
