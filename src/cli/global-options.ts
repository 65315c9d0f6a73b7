import type { OptionSpecs } from './command.js';

export const globalOptions: OptionSpecs = {
  couch: { type: 'string' },
  db: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  extensions: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

export const globalHelp = `Global options:
  --couch URL        use this CouchDB (3.x) instead of the embedded server
                     (env RAINDROP_COUCH_URL); credentials go in the URL
  --db NAME          database name (default: raindrop; env RAINDROP_DB)
  --data-dir DIR     where the embedded server keeps its data
                     (default: ~/.local/share/raindrop; env RAINDROP_DATA_DIR)
  --config FILE      config file (default: ~/.config/raindrop/config.json;
                     env RAINDROP_CONFIG)
  --log-level LEVEL  debug, info, warn, error or silent (default: info)
  --extensions DIR   a directory of your own extensions (repeatable; env
                     RAINDROP_EXTENSIONS, ':'-separated); built-ins always load
  --json             print data as JSON on stdout
  -h, --help         show help`;
