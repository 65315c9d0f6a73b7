import { afterAll, beforeAll, expect } from 'vitest';

/**
 * Fails a test file that leaves a child process or a listening server behind. Sockets
 * and timers are not counted: fetch keeps idle keep-alive sockets by design.
 */
const watched = ['ProcessWrap', 'TCPServerWrap', 'PipeServerWrap'];
const counts = () => {
  const all = process.getActiveResourcesInfo();
  return Object.fromEntries(watched.map((kind) => [kind, all.filter((r) => r === kind).length]));
};

let before: Record<string, number> = {};
beforeAll(() => {
  before = counts();
});
afterAll(async () => {
  // Handles close asynchronously after `close()` resolves; give them a moment.
  let after = counts();
  for (let i = 0; i < 20 && JSON.stringify(after) !== JSON.stringify(before); i++) {
    await new Promise((r) => setTimeout(r, 50));
    after = counts();
  }
  expect(after, 'resources left open by this test file (child processes, servers)').toEqual(before);
});
