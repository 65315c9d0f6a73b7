/**
 * The embedded server's one account. It is created with the data, never configured: the
 * server is not an admin party, and whoever can read the data directory (mode 0700) can
 * already read the mail, so keeping the password next to it (mode 0600) adds no exposure.
 */

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RaindropError, errorCodes } from '../../core/errors.js';

export const ADMIN_FILE = 'admin.json';
export const ADMIN_USERNAME = 'admin';

/** 32 random bytes: far beyond guessing, and base64url keeps it safe inside a URL. */
const SECRET_BYTES = 32;

export interface AdminCredentials {
  username: string;
  password: string;
  /** Key for signing `AuthSession` cookies; changing it logs everyone out. */
  cookieSecret: string;
}

export function adminCredentialsPath(dataDir: string): string {
  return join(dataDir, ADMIN_FILE);
}

/** Creates the data directory the way every embedded-server file expects it: private. */
export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/** The stored credentials, or undefined when the embedded server never ran here. */
export async function readAdminCredentials(dataDir: string): Promise<AdminCredentials | undefined> {
  const path = adminCredentialsPath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RaindropError(errorCodes.EMBEDDED_START, `Cannot read ${path}: check its permissions.`, {
      cause: error,
    });
  }
  return parseCredentials(text, path);
}

/**
 * Reuses the stored credentials or creates them on first start. Callers own the data
 * directory's server record first, so two processes never race to create the file; the
 * write is still atomic (temp file + rename) so a crash never leaves half a file.
 */
export async function loadOrCreateAdminCredentials(dataDir: string): Promise<AdminCredentials> {
  await ensureDataDir(dataDir);
  const existing = await readAdminCredentials(dataDir);
  if (existing) {
    await tightenMode(adminCredentialsPath(dataDir));
    return existing;
  }
  const credentials: AdminCredentials = {
    username: ADMIN_USERNAME,
    password: randomBytes(SECRET_BYTES).toString('base64url'),
    cookieSecret: randomBytes(SECRET_BYTES).toString('base64url'),
  };
  await writeFileAtomic(adminCredentialsPath(dataDir), `${JSON.stringify(credentials, null, 2)}\n`);
  return credentials;
}

/** Writes a private (0600) file so that readers see either the old or the new content. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // `mode` only applies when the file is created, which it always is here.
    await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function parseCredentials(text: string, path: string): AdminCredentials {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, error);
  }
  if (typeof value !== 'object' || value === null) throw corrupt(path);
  const { username, password, cookieSecret } = value as Record<string, unknown>;
  if (!isNonEmptyString(username) || !isNonEmptyString(password) || !isNonEmptyString(cookieSecret)) {
    throw corrupt(path);
  }
  return { username, password, cookieSecret };
}

function corrupt(path: string, cause?: unknown): RaindropError {
  return new RaindropError(
    errorCodes.EMBEDDED_START,
    `${path} is not valid (expected {"username","password","cookieSecret"}). ` +
      'Delete it to create a new admin password on the next start.',
    cause === undefined ? {} : { cause },
  );
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** A copy or a permissive umask may have widened the file; the secret must stay private. */
async function tightenMode(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    await chmod(path, 0o600);
  } catch {
    // Not ours to fix (e.g. a read-only mount): reading still works.
  }
}
