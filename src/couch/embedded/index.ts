export { startEmbeddedServer, type EmbeddedServer, type StartEmbeddedServerOptions } from './supervisor.js';
export {
  ADMIN_FILE,
  adminCredentialsPath,
  loadOrCreateAdminCredentials,
  readAdminCredentials,
  type AdminCredentials,
} from './admin-credentials.js';
export {
  SERVER_RECORD_FILE,
  acquireServerRecord,
  readLiveServerRecord,
  readServerRecord,
  releaseServerRecord,
  serverRecordPath,
  updateServerRecord,
  type AcquireResult,
  type ServerOwner,
  type ServerRecord,
  type ServerRecordHandle,
} from './server-record.js';
export { EMBEDDED_VENDOR_NAME, SESSION_COOKIE } from './auth-gate.js';
export { EMBEDDED_HOST } from './limits.js';
