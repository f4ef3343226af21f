// @engram/compression: compressive memory (SPEC 3): the Compressor contract, five compression functions, losses, policy.
export * from './errors.js';
export {
  assignWeights,
  blockMeanPositions,
  checkRate,
  defineCompressor,
  layerSeed,
  toBlocks,
  uniqueVariableName,
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
  mostUsedIndices,
} from './builtins.js';
export type { ConvCompressorOptions, DilatedConvCompressorOptions, RateOptions } from './builtins.js';
