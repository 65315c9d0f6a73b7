import { type Couch, callCouch } from './connect.js';

export interface ServerInfo {
  /** The server's version string, e.g. "3.4.2" for CouchDB. */
  version: string;
  /** The vendor name the server reports ("The Apache Software Foundation", or the
   * embedded server's own name). */
  vendor: string;
}

/** `GET /`: proves the server is reachable and says what it is. */
export async function serverInfo(couch: Couch): Promise<ServerInfo> {
  const body = await callCouch(couch, 'reading the server welcome', () =>
    couch.server.request({ method: 'GET', path: '' }),
  ) as { version?: unknown; vendor?: { name?: unknown } };
  return {
    version: typeof body.version === 'string' ? body.version : 'unknown',
    vendor: typeof body.vendor?.name === 'string' ? body.vendor.name : 'unknown',
  };
}
