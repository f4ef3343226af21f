// One tsup configuration factory, so every package builds the same way (ESM + .d.ts).
import { defineConfig } from 'tsup';

/**
 * Build config for an Engram package.
 * @param {Record<string, string>} entry output name -> source file, e.g. `{ index: 'src/index.ts' }`
 * @param {import('tsup').Options} [overrides] per-package tsup options (rarely needed)
 */
export function engramTsup(entry, overrides = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: { compilerOptions: { customConditions: [] } },
    sourcemap: true,
    clean: true,
    splitting: true,
    treeshake: true,
    ...overrides,
  });
}
