// @engram/model: the memory transformer language model, its training step, streaming generation and weights to and from bytes (files: @engram/model/node).
export { resolveConfig } from './config.js';
export type { ModelConfig, ResolvedModelConfig } from './config.js';
export { ConversionError, ModelConfigError, ModelError, ModelInputError, SafetensorsError, WeightsError } from './errors.js';
export type { ModelErrorOptions } from './errors.js';
export { createAdam, createModel, MemoryTransformer } from './model.js';
export type {
  AdamOptions,
  Batch,
  CreateModelOptions,
  EvaluateResult,
  ForwardResult,
  ModelStream,
  RandomState,
  TrainOptimizers,
  TrainStepOptions,
  TrainStepResult,
} from './model.js';
export { generate, generateTokens, sampleFromLogits } from './generate.js';
export type { GenerateOptions, SamplingOptions } from './generate.js';
export { decodeSafetensors, encodeSafetensors } from './safetensors.js';
export type { SafetensorsContents, SafetensorsDtype } from './safetensors.js';
export {
  CONFIG_FILE,
  decodeMemoryState,
  decodeModel,
  encodeMemoryState,
  encodeModel,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  parseModelConfig,
  WEIGHTS_FILE,
} from './weights.js';
export type { LoadModelOptions, ModelFiles, SavedModelConfig } from './weights.js';
export { exportTransformerXl, importTransformerXl, transformerXlConfigOf } from './interchange/transformer-xl.js';
export type { TransformerXlConfig, TransformerXlExport, TransformerXlImportOptions, TransformerXlNaming } from './interchange/transformer-xl.js';
