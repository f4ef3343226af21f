// @engram/trainer: training loop, schedule, checkpoints, resume and JSON-lines logs for Engram models.
export { learningRateAt, resolveSchedule } from './schedule.js';
export type { ScheduleOptions, ResolvedSchedule } from './schedule.js';
export { JsonLinesWriter, readJsonLines } from './log.js';
export type { JsonLinesContent } from './log.js';
export { createProgressReporter } from './progress.js';
export type { ProgressMode, ProgressOptions, ProgressReporter, ProgressStep } from './progress.js';
export {
  MANIFEST_FILE,
  checkpointDirectoryName,
  listCheckpoints,
  publishCheckpoint,
  pruneCheckpoints,
  removeLeftovers,
  sha256File,
  verifyCheckpoint,
} from './checkpoint-store.js';
export type { CheckpointEntry, CheckpointManifest } from './checkpoint-store.js';
export { captureOptimizerState, restoreOptimizerState, setLearningRate } from './optimizer-state.js';
export type { OptimizerSnapshot, OptimizerSnapshotMeta } from './optimizer-state.js';
export {
  TrainerError,
  InvalidTrainOptionError,
  NonFiniteLossError,
  CorruptCheckpointError,
  CheckpointMismatchError,
} from './errors.js';
