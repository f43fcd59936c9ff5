import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'fixtures/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Removes the temporary folders each test file made (fixtures/tree.ts, tempDir).
    setupFiles: ['fixtures/test-cleanup.ts'],
  },
});
