import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { loadConfig } from '../config/index.js';
import { RaindropError, createLogger, errorCodes, isRaindropError, type LogLevel } from '../core/index.js';
import { openServer } from '../couch/open-server.js';
import type { CommandContext, OptionValues } from './command.js';
import { commandTable } from './command-table.js';
import { exitCodeFor, exitCodes } from './exit-codes.js';
import { globalHelp, globalOptions } from './global-options.js';
import { createOutput } from './output.js';

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable;
  /** Resolves when the process is asked to stop. */
  stopRequested: Promise<void>;
}

function mainHelp(): string {
  const width = Math.max(...commandTable.map((c) => c.name.length));
  return `Raindrop: your mail, in your CouchDB, processed by extensions you can read.

Usage: raindrop <command> [options]

Commands:
${commandTable.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

${globalHelp}

Run "raindrop <command> --help" for a command's options and examples.`;
}

/** Runs one CLI invocation and returns its exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  const output = createOutput(wantsJson, io.stdout, io.stderr);
  try {
    const first = parseArgs({ args: [...argv], options: globalOptions, strict: false, allowPositionals: true });
    const name = first.positionals[0];
    if (name === undefined || name === 'help') {
      io.stdout.write(`${mainHelp()}\n`);
      return name === undefined && first.values.help !== true ? exitCodes.usage : exitCodes.ok;
    }
    const entry = commandTable.find((c) => c.name === name);
    if (!entry) {
      throw new RaindropError(errorCodes.USAGE, `unknown command "${name}"; run "raindrop --help" for the list`);
    }
    const command = await entry.load();
    let parsed: { values: OptionValues; positionals: string[] };
    try {
      parsed = parseArgs({ args: [...argv], options: { ...globalOptions, ...command.options }, strict: true, allowPositionals: true }) as typeof parsed;
    } catch (cause) {
      throw new RaindropError(errorCodes.USAGE, `${(cause as Error).message}; run "raindrop ${name} --help"`, { cause });
    }
    if (parsed.values.help === true) {
      io.stdout.write(`${command.help}\n\n${globalHelp}\n`);
      return exitCodes.ok;
    }
    const str = (key: string) => (typeof parsed.values[key] === 'string' ? (parsed.values[key] as string) : undefined);
    const config = loadConfig(
      { couch: str('couch'), db: str('db'), dataDir: str('data-dir'), config: str('config'), port: str('port'), logLevel: str('log-level'), extensions: parsed.values.extensions as string[] | undefined },
      io.env,
    );
    const logger = createLogger({ level: config.logLevel as LogLevel, json: wantsJson, sink: (line) => io.stderr.write(`${line}\n`) });
    const ctx: CommandContext = {
      config,
      output,
      logger,
      stopRequested: io.stopRequested,
      openServer: (owner = 'command') =>
        openServer({ couchUrl: config.couchUrl, dataDir: config.dataDir, owner, port: owner === 'serve' ? config.port : 0, logger }),
    };
    return await command.run(ctx, parsed.values, parsed.positionals.slice(1));
  } catch (err) {
    const error = isRaindropError(err)
      ? err
      : new RaindropError(errorCodes.ABORTED, `unexpected failure: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    if (wantsJson) io.stdout.write(`${JSON.stringify(error.toJSON(), null, 2)}\n`);
    io.stderr.write(`raindrop: ${error.message}\n`);
    return isRaindropError(err) ? exitCodeFor(error.code) : exitCodes.failure;
  }
}
