/**
 * The CLI's command table loads a command's module only when it runs; the names and
 * summaries it lists must be those of the modules it loads.
 */
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/cli/command-table.js';

describe('the command table', () => {
  it('loads, for every name it lists, the command of that name, each once', async () => {
    const names = commandTable.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const entry of commandTable) {
      const command = await entry.load();
      expect(command.name).toBe(entry.name);
      expect(entry.summary.length, entry.name).toBeGreaterThan(10);
      expect(command.help, entry.name).toContain(`raindrop ${entry.name}`);
    }
  });
});
