// The kernels tfjs-backend-wasm 4.22 lacks and training needs, and their idempotent registration.
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { RELATIVE_GATHER, RELATIVE_SCATTER, relativeGatherKernel, relativeScatterKernel } from './relative-gather.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

/**
 * Kernel names this package registers for the wasm backend (only where wasm has none): two tfjs kernels wasm lacks,
 * and Engram's own relative-position gather and its gradient (used by `gatherRelativeScores` when registered).
 */
export const WASM_KERNELS_REGISTERED_BY_ENGRAM = [tf.UnsortedSegmentSum, tf.Conv2DBackpropFilter, RELATIVE_GATHER, RELATIVE_SCATTER] as const;

const kernels: Record<(typeof WASM_KERNELS_REGISTERED_BY_ENGRAM)[number], tf.KernelFunc> = {
  [tf.UnsortedSegmentSum]: unsortedSegmentSumKernel,
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilterKernel,
  [RELATIVE_GATHER]: relativeGatherKernel,
  [RELATIVE_SCATTER]: relativeScatterKernel,
};

/**
 * Registers, for the backend name `wasm`, every kernel in `WASM_KERNELS_REGISTERED_BY_ENGRAM` that is not registered
 * yet. Idempotent (a second call changes nothing), never replaces a kernel that exists (a future tfjs release or the
 * user may provide one), works before or after the wasm backend is loaded, and touches no other backend.
 * @returns the kernel names this call registered (empty when all were present)
 */
export function registerMissingKernels(): string[] {
  const registered: string[] = [];
  for (const kernelName of WASM_KERNELS_REGISTERED_BY_ENGRAM) {
    if (tf.getKernel(kernelName, 'wasm') !== undefined) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernels[kernelName] });
    registered.push(kernelName);
  }
  return registered;
}
