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
