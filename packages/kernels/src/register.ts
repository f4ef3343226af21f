// Side-effect entry `@engram/kernels/register`: registers the kernels wasm lacks, and the fast kernels if wasm is up.
//
// The fast kernels run on the wasm backend's heap, so they can only be registered once that backend is initialised:
// import this entry after `await tf.setBackend('wasm')`, or call registerFastKernels() then (initBackend does both).
import * as tf from '@tensorflow/tfjs';
import { registerFastKernels } from './kernels/fast-kernels.js';
import { registerMissingKernels } from './kernels/index.js';

registerMissingKernels();
if (tf.engine().registry.wasm !== undefined) registerFastKernels();

export { registerMissingKernels, WASM_KERNELS_REGISTERED_BY_ENGRAM } from './kernels/index.js';
export {
  fastKernelsActive,
  fastKernelThreads,
  registerFastKernels,
  setFastKernelThreads,
  unregisterFastKernels,
} from './kernels/fast-kernels.js';
