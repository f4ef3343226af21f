// Side-effect entry `@engram/kernels/register`: registers the kernels wasm lacks, and the fast kernels if wasm is up.
//
// The fast kernels run on the wasm backend's heap, so they can only be registered once that backend is initialised:
// import this entry after `await tf.setBackend('wasm')`, or call registerFastKernels() then (initBackend does both).
// Like initBackend's default, it first allows relaxed SIMD (allowRelaxedSimd), so the GEMM fuses multiply-adds where
// the engine can.
import * as tf from '@tensorflow/tfjs';
import { registerFastKernels } from './kernels/fast-kernels.js';
import { allowRelaxedSimd } from './kernels/gemm.js';
import { registerMissingKernels } from './kernels/index.js';

registerMissingKernels();
if (tf.engine().registry.wasm !== undefined) {
  allowRelaxedSimd();
  registerFastKernels();
}

export { registerMissingKernels, WASM_KERNELS_REGISTERED_BY_ENGRAM } from './kernels/index.js';
export {
  fastKernelInstructions,
  fastKernelsActive,
  fastKernelThreads,
  registerFastKernels,
  setFastKernelInstructions,
  setFastKernelThreads,
  unregisterFastKernels,
} from './kernels/fast-kernels.js';
export { allowRelaxedSimd, relaxedSimdSupported } from './kernels/gemm.js';
