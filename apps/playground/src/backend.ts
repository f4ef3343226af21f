// Picks the page's tensor backend (webgpu when the browser has it, then webgl, wasm, cpu); wasm starts through @engram/kernels' initBackend (missing and fast matmul kernels) with its binaries served by Vite.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '@engram/kernels';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** Backends the page can use, in the order `auto` tries them. */
export const PAGE_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

wasmBackend.setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});

/** The backend the page runs on, and on wasm which matmul kernels (Engram's fast SIMD GEMM or tfjs's stock ones). */
export interface PageBackendInfo {
  name: PageBackend;
  kernels: 'fast' | 'stock' | null;
}

/**
 * Activates `choice` (or the first backend of {@link PAGE_BACKENDS} that initialises, for `auto`)
 * and describes it. An explicit choice that cannot start throws, naming the backend.
 */
export async function selectBackend(choice: PageBackend | 'auto'): Promise<PageBackendInfo> {
  tf.env().set('PROD', true);
  const candidates = choice === 'auto' ? PAGE_BACKENDS.filter((name) => name !== 'webgpu' || 'gpu' in navigator) : [choice];
  const failures: string[] = [];
  for (const name of candidates) {
    let ok = false;
    try {
      if (name === 'wasm') {
        // initBackend registers the kernels wasm lacks for training and the fast matmul kernels.
        const info = await initBackend({ backend: 'wasm', importModule: async () => wasmBackend });
        return { name, kernels: info.kernels };
      }
      ok = await tf.setBackend(name);
      if (ok) await tf.ready();
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!ok) {
      failures.push(`${name}: it did not initialise in this browser`);
      continue;
    }
    return { name, kernels: null };
  }
  throw new Error(`No tensor backend could start (${failures.join('; ')}). Pick another backend.`);
}
