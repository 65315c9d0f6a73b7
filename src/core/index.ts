export * from './errors.js';
export * from './canonical-json.js';
export * from './hash.js';
export * from './keys.js';
export * from './redact.js';
export * from './log.js';
export * from './stop-signal.js';
