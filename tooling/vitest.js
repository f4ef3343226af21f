// Shared vitest project factory: sibling packages resolve from source and a tensor backend is set up.
import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

const setupFile = fileURLToPath(new URL('./vitest-setup.ts', import.meta.url));

/**
 * A vitest project for one package, resolving `@engram/*` siblings from their `src/`.
 * @param {{ name: string, backend?: 'wasm' | 'cpu', include?: string[], testTimeout?: number, engramKernels?: boolean }} options
 *   name: project name (the package name); backend: tensor backend (wasm default, the embedded
 *   engine); include: test globs (default every `src/**\/*.test.ts`); testTimeout in ms (default 60 s);
 *   engramKernels: register Engram's wasm kernels before the tests, as initBackend does (default true).
 */
export function engramVitest(options) {
  const backend = options.backend ?? 'wasm';
  return defineProject({
    resolve: { conditions: ['@engram/source'] },
    ssr: { resolve: { conditions: ['@engram/source'] } },
    test: {
      name: backend === 'wasm' ? options.name : `${options.name} (${backend})`,
      include: options.include ?? ['src/**/*.test.ts'],
      environment: 'node',
      setupFiles: [setupFile],
      env: { ENGRAM_TEST_BACKEND: backend, ENGRAM_TEST_KERNELS: options.engramKernels === false ? '0' : '1' },
      testTimeout: options.testTimeout ?? 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
    },
  });
}
