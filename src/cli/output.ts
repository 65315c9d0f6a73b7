import type { Writable } from 'node:stream';

/** Where a command writes: data to `out` (stdout), messages for people to `err`. */
export interface Output {
  readonly json: boolean;
  /** Data: JSON with --json, text otherwise. */
  data(value: unknown, text: string): void;
  /** A line for a person; goes to stderr with --json so stdout stays parseable. */
  say(line: string): void;
}

export function createOutput(json: boolean, out: Writable = process.stdout, err: Writable = process.stderr): Output {
  return {
    json,
    data(value, text) {
      out.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
    },
    say(line) {
      (json ? err : out).write(`${line}\n`);
    },
  };
}
