/**
 * The IPC messages between the supervisor and the server child. Secrets travel here, in
 * the fork's private channel, rather than in argv (visible to every user through `ps`)
 * or the environment (inherited by anything the child might spawn).
 */

import type { TrustedDesignDoc } from './code-policy.js';

export interface ChildStartOptions {
  dataDir: string;
  /** 0 only on the first start; restarts reuse the port the first child got. */
  port: number;
  host: string;
  username: string;
  password: string;
  cookieSecret: string;
  /** Raindrop's own design documents (couchapp/ddocs): the only code the server runs. */
  trustedDesignDocs: TrustedDesignDoc[];
}

export type ParentMessage = { type: 'start'; options: ChildStartOptions } | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'error'; code: string | undefined; message: string };

export function isChildMessage(value: unknown): value is ChildMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  return (
    (message.type === 'ready' && typeof message.port === 'number') ||
    (message.type === 'error' && typeof message.message === 'string')
  );
}

export function isParentMessage(value: unknown): value is ParentMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  if (message.type === 'stop') return true;
  if (message.type !== 'start' || typeof message.options !== 'object' || message.options === null) return false;
  const o = message.options as Record<string, unknown>;
  return (
    typeof o.dataDir === 'string' &&
    typeof o.port === 'number' &&
    typeof o.host === 'string' &&
    typeof o.username === 'string' &&
    typeof o.password === 'string' &&
    typeof o.cookieSecret === 'string' &&
    Array.isArray(o.trustedDesignDocs) &&
    o.trustedDesignDocs.every((d: unknown) => typeof d === 'object' && d !== null && typeof (d as { _id?: unknown })._id === 'string')
  );
}
