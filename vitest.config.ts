import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A guard against hangs, not a speed check (benchmarks measure speed). Integration
    // tests start CLI processes, servers and a browser on a 2-core CI machine; a test that
    // takes 9 s on a quiet machine took over 60 s there, so the guard is generous.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Child processes (isolate pool, embedded server) need this flag on Node 20.
    execArgv: ['--no-node-snapshot'],
    // Every file fails if it leaves a child process or a server running.
    setupFiles: ['test/helpers/leak-check.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        // The extension sandbox: isolate pool in a child process; no CouchDB needed.
        // CI also runs this project on Node 24.
        test: { name: 'sandbox', include: ['test/sandbox/**/*.test.ts'], globalSetup: ['test/global-setup.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // One embedded server per run (or RAINDROP_TEST_COUCH_URL); a database per file.
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
