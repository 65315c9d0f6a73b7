#!/usr/bin/env -S node --no-node-snapshot
import { processEnv } from '../config/index.js';
import { cliLimits } from './limits.js';
import { runCli } from './run-cli.js';

// The only module with side effects on load: it is the program's entry point.
const stopRequested = new Promise<void>((resolve) => {
  const stop = () => resolve();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
});

const code = await runCli(process.argv.slice(2), { env: processEnv(), stdout: process.stdout, stderr: process.stderr, stopRequested });
process.exitCode = code;
// Signal listeners must not keep a finished command alive.
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
// Whatever still holds the event loop (a part that ignored the stop) must not keep a
// finished command alive; unref'd, this timer does not hold it either.
setTimeout(() => process.exit(), cliLimits.exitGraceMs).unref();
