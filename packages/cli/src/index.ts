// @engram/cli: the `engram` command as a library: run it, resolve a configuration, build its policy and model config, check its memory estimate.
export { runCli } from './program.js';
export { captureIo } from './io.js';
export type { CommandIo } from './io.js';
export { backendChoices } from './config/schema.js';
export type {
  AdaptiveSpanConfig,
  BackendChoice,
  CompressiveConfig,
  ConfigKind,
  CustomConfig,
  EngramConfig,
  ExpireSpanConfig,
  ModelKind,
  TxlConfig,
} from './config/schema.js';
export type { ConfigInput } from './config/presets.js';
export { resolveConfig, validateConfig } from './config/resolve.js';
export type { ConfigSources } from './config/resolve.js';
export { loadConfigModules, loadSavedModules } from './config/load-modules.js';
export { createPolicy, modelConfigOf, policyFromSavedConfig, temporalRangeOf, unrollOf } from './build.js';
export { assertFits, estimateTrainingBytes, trainingShapeOf } from './budget.js';
export type { BudgetLimits, BudgetShape, MemoryEstimate } from './budget.js';
export { CliError, ConfigFileError, ConfigValidationError, InputError, UsageError } from './errors.js';
export type { ConfigIssue } from './errors.js';
