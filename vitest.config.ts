// Root vitest entry: runs every package's test project(s) in one summary.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'packages/*/vitest.cpu.config.ts', 'apps/*/vitest.config.ts', 'apps/*/vitest.browser.config.ts'],
    // The JSON report lets .ci/run print a one-line "N passed, N failed" summary.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
