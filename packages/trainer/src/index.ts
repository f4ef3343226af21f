// @engram/trainer (browser-safe): schedule, evaluation, optimizer and random state capture, dataset checksums. The training loop with its files (checkpoints, logs, progress bars): '@engram/trainer/node'.
export { learningRateAt, resolveSchedule } from './schedule.js';
export type { ScheduleOptions, ResolvedSchedule } from './schedule.js';
export { captureOptimizerState, restoreOptimizerState, setLearningRate } from './optimizer-state.js';
export type { OptimizerSnapshot, OptimizerSnapshotMeta } from './optimizer-state.js';
export {
  TrainerError,
  InvalidTrainOptionError,
  NonFiniteLossError,
  NonFiniteEvaluationError,
  NothingToResumeError,
  CorruptCheckpointError,
  CheckpointMismatchError,
} from './errors.js';
export { evaluate } from './evaluate.js';
export type { EvaluationData, EvaluationResult, EvaluateOptions } from './evaluate.js';
export { tokensChecksum } from './dataset-checksum.js';
