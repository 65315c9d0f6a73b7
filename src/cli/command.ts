import type { ParseArgsConfig } from 'node:util';
import type { RaindropConfig } from '../config/index.js';
import type { Logger } from '../core/index.js';
import type { OpenServer } from '../couch/open-server.js';
import type { Output } from './output.js';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  config: RaindropConfig;
  output: Output;
  logger: Logger;
  /** Opens the server the command should use (see couch/open-server). */
  openServer(owner?: 'serve' | 'command'): Promise<OpenServer>;
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM). */
  stopRequested: Promise<void>;
}

export interface Command {
  name: string;
  /** Hand-written help: synopsis, options, examples. */
  help: string;
  options: OptionSpecs;
  run(ctx: CommandContext, values: OptionValues, positionals: string[]): Promise<number>;
}
