import { type ChildProcess, spawn } from 'node:child_process';
import { compiledEntry } from '../../src/core/entry-points.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it: the compiled entry point in a child process. */
export function cliEntry(): string {
  return compiledEntry('src/cli/main.ts');
}

/** Runs `raindrop ...args` to completion. `env` replaces the environment (plus PATH),
 * so the user's own config and variables never leak into a test. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function startCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--no-node-snapshot', cliEntry(), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
