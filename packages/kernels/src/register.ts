// Side-effect entry `@engram/kernels/register`: registers the kernels the wasm backend lacks (see registerMissingKernels).
import { registerMissingKernels } from './kernels/index.js';

registerMissingKernels();

export { registerMissingKernels, WASM_KERNELS_REGISTERED_BY_ENGRAM } from './kernels/index.js';
