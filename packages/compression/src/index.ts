// @engram/compression: compressive memory (SPEC 3): the Compressor contract, five compression functions, losses, policy.
export * from './errors.js';
export {
  assignWeights,
  blockMeanPositions,
  checkRate,
  defineCompressor,
  layerSeed,
  splitVariableName,
  toBlocks,
  uniqueVariableName,
  uniqueVariableScope,
  validateCompressorInput,
} from './compressor.js';
export type {
  Compressor,
  CompressorBuildContext,
  CompressorBuildOptions,
  CompressorDefinition,
  CompressorImplementation,
  CompressorInput,
  CompressorOutput,
  LayerCompressor,
} from './compressor.js';
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
export type { CompressionTraining } from './losses.js';
export { COMPRESSIVE_KIND, compressiveTemporalRange, createCompressivePolicy, EXTRA_KEYS } from './policy.js';
export type { CompressionLoss, CompressivePolicy, CompressivePolicyOptions } from './policy.js';
export {
  BUILT_IN_COMPRESSOR_KINDS,
  createCompressivePolicyFromConfig,
  createCompressorFromConfig,
} from './from-config.js';
export { COMPRESSIVE_DEFAULTS, compressiveOptionsObject, compressiveOptionsSchema, compressivePolicyDescriptor } from './descriptor.js';
