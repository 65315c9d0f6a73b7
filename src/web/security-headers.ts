/**
 * The headers of everything `raindrop serve` answers on the app's origin. The app's CSP
 * allows only its own scripts, styles and API; remote images only because "show images"
 * needs them (the sanitizer blocks them by default, and the message frame has a stricter
 * CSP of its own). Everything proxied from CouchDB (documents, attachments such as raw
 * mail) is sandboxed: no stored byte can run as a page on this origin.
 */
export const appCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: http: https:",
  "connect-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

export const appHeaders: Record<string, string> = {
  'Content-Security-Policy': appCsp,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

export const apiHeaders: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; sandbox; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};
