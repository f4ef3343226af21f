// @engram/cli: the `engram` command as a library: command tree, configuration schema, presets and model building.
export { createProgram, runCli, cliVersion } from './program.js';
export * from './config/schema.js';
export { presetConfig, presetNames } from './config/presets.js';
export type { ConfigInput, PresetName } from './config/presets.js';
export { mergeConfig, parseSetting, readConfigFile, resolveConfig, validateConfig } from './config/resolve.js';
export { describeValue } from '@engram/core';
export type { ConfigSources } from './config/resolve.js';
export { loadConfigModules, loadSavedModules } from './config/load-modules.js';
export { MODULE_KEY } from './user-modules.js';
export type { ModuleReference } from './user-modules.js';
export { createCompressor, createPolicy, modelConfigOf, policyFromSavedConfig, temporalRangeOf, unrollOf } from './build.js';
export { setupBackend, describeBackendInfo } from './backend.js';
export type { SelectedBackend } from './backend.js';
export { loadTrainedModel, saveTrainedModel, resolveModelDirectory } from './model-files.js';
export type { EngramModelDocument, TrainedModel } from './model-files.js';
export { loadCorpusTokens, prepareTokens } from './data.js';
export type { CorpusTokens } from './data.js';
export { renderMemoryTimelineSvg, finalCounts, slotStatuses, SlotCode } from './inspect/picture.js';
export type { MemoryTimeline, SlotStatus } from './inspect/picture.js';
export {
  assertFits,
  estimateInferenceBytes,
  estimateTrainingBytes,
  memorySlotsOf,
  parameterCountOf,
  savedModelShapeOf,
  trainingShapeOf,
} from './budget.js';
export type { BudgetLimits, BudgetShape, MemoryEstimate } from './budget.js';
export * from './errors.js';
export { captureIo, processIo } from './io.js';
export type { CommandIo } from './io.js';
