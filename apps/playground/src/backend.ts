// Picks the page's tensor backend (webgpu when the browser has it, then webgl, wasm, cpu) and serves the wasm binaries through Vite.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerMissingKernels } from '@engram/kernels';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** Backends the page can use, in the order `auto` tries them. */
export const PAGE_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});

/**
 * Activates `choice` (or the first backend of {@link PAGE_BACKENDS} that initialises, for `auto`)
 * and returns its name. An explicit choice that cannot start throws, naming the backend.
 */
export async function selectBackend(choice: PageBackend | 'auto'): Promise<PageBackend> {
  tf.env().set('PROD', true);
  const candidates = choice === 'auto' ? PAGE_BACKENDS.filter((name) => name !== 'webgpu' || 'gpu' in navigator) : [choice];
  const failures: string[] = [];
  for (const name of candidates) {
    let ok = false;
    try {
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
    // Training on wasm needs the kernels it lacks (UnsortedSegmentSum, ...); harmless elsewhere.
    if (name === 'wasm') registerMissingKernels();
    return name;
  }
  throw new Error(`No tensor backend could start (${failures.join('; ')}). Pick another backend.`);
}
