// @engram/compression: compressive memory (SPEC 3): the Compressor contract, five compression functions, losses, policy.
export * from './errors.js';
export { blockMeanPositions, layerSeed, toBlocks } from './compressor-blocks.js';
export { validateCompressorInput } from './compressor-checks.js';
export { defineCompressor } from './define-compressor.js';
// The variable naming helpers live in @engram/memory (every policy uses them); re-exported here for compressors.
export { splitVariableName, uniqueVariableName, uniqueVariableScope } from '@engram/memory';
// The Compressor contract: every type of compressor.ts is public.
export type * from './compressor.js';
export {
  createConvCompressor,
  createDilatedConvCompressor,
  createMaxPoolCompressor,
  createMeanPoolCompressor,
  createMostUsedCompressor,
  gatherRows,
  mostUsedIndices,
} from './builtins.js';
export type { ConvCompressorOptions, DilatedConvCompressorOptions, RateOptions } from './builtins.js';
export {
  attentionReconstructionLoss,
  autoEncodingLoss,
  COMPRESSION_TRAINING_MODES,
  keyValueOnlyGradient,
  LinearDecoder,
} from './losses.js';
export type { CompressionTraining, ProjectedTarget } from './losses.js';
export { EXTRA_KEYS } from './policy-contract.js';
export type { CompressionLoss, CompressivePolicy, CompressivePolicyOptions } from './policy-contract.js';
export { createCompressivePolicy } from './policy.js';
export {
  BUILT_IN_COMPRESSOR_KINDS,
  createCompressivePolicyFromConfig,
  createCompressorFromConfig,
} from './from-config.js';
export { compressivePolicyDescriptor } from './descriptor.js';
export type { CompressiveCreateContext, CompressorModuleReference } from './descriptor.js';
export { compressorDescriptorProblem, defineCompressorDescriptor } from './compressor-descriptor.js';
export type { CompressorCreateContext, CompressorDescriptor } from './compressor-descriptor.js';
