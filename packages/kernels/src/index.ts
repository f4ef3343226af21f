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
export {
  FAST_WASM_KERNELS,
  fastKernelInstructions,
  fastKernelsActive,
  fastKernelThreads,
  fastKernelThreadStats,
  registerFastKernels,
  setFastKernelInstructions,
  setFastKernelThreads,
  unregisterFastKernels,
} from './kernels/fast-kernels.js';
export { allowRelaxedSimd, GEMM_INSTRUCTIONS, relaxedSimdSupported, type GemmInstructions } from './kernels/gemm.js';
export { clipAndApplyGradients, FusedAdamOptimizer, FUSED_ADAM, type ClipAndApplyResult, type FusedAdamAttrs } from './kernels/fused-adam.js';
export {
  assertTensorBudget,
  BACKEND_CHOICES,
  KERNEL_CHOICES,
  describeBackend,
  initBackend,
  tensorBytes,
  WASM_HEAP_LIMIT_BYTES,
  type BackendChoice,
  type BackendInfo,
  type ConcreteBackend,
  type InitBackendOptions,
  type KernelChoice,
} from './backend.js';
