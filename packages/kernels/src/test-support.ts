// Deterministic random inputs for the kernel tests (not part of the public API).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll } from 'vitest';
import { registerFastKernels, unregisterFastKernels } from './kernels/fast-kernels.js';

/** A seeded uniform generator in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` values uniform in [low, high), rounded to float32. */
export function randomValues(size: number, seed: number, low = -1, high = 1): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = low + (high - low) * random();
  return values;
}

/** A float32 tensor of the given shape with values uniform in [low, high). */
export function randomTensor(shape: number[], seed: number, low = -1, high = 1): tf.Tensor {
  return tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed, low, high), shape, 'float32');
}

/** Row-major flat offset of `index` in `shape`. */
export function offset(shape: readonly number[], ...index: number[]): number {
  let flat = 0;
  for (let axis = 0; axis < shape.length; axis++) flat = flat * (shape[axis] as number) + (index[axis] as number);
  return flat;
}

/** Registers the fast wasm kernels before the tests of the calling describe block and removes them after. */
export function withFastKernels(): void {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    registerFastKernels();
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
    unregisterFastKernels();
  });
}

/** Runs `fn` with `backend` active and switches back to the backend that was active before (for wasm-against-cpu comparisons). */
export async function onBackend<T>(backend: string, fn: () => T): Promise<T> {
  const previous = tf.getBackend();
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} unavailable`);
  try {
    return fn();
  } finally {
    await tf.setBackend(previous);
  }
}
