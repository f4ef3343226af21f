// @engram/kernels: backend selection, the kernels wasm lacks, and the fused tensor ops Engram's models are built from.
export {
  BackendUnavailableError,
  GradientMismatchError,
  InvalidArgumentError,
  KernelsError,
  NumericMismatchError,
  TensorBudgetError,
  TensorLeakError,
} from './errors.js';
export * from './ops/index.js';
export { registerMissingKernels, WASM_KERNELS_REGISTERED_BY_ENGRAM } from './kernels/index.js';
