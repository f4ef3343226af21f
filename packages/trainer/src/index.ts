// @engram/trainer: training loop, schedule, checkpoints, resume and JSON-lines logs for Engram models.
export { learningRateAt, resolveSchedule } from './schedule.js';
export type { ScheduleOptions, ResolvedSchedule } from './schedule.js';
export { JsonLinesWriter, readJsonLines, readTrainingLog } from './log.js';
export type { JsonLinesContent, TrainingLog } from './log.js';
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
  NonFiniteEvaluationError,
  NothingToResumeError,
  CorruptCheckpointError,
  CheckpointMismatchError,
} from './errors.js';
export { train } from './train.js';
export type {
  TrainOptions,
  TrainResult,
  StepRecord,
  EvaluationRecord,
  OptimizerOptions,
  CheckpointOptions,
  FaultInjection,
} from './train.js';
export { evaluate } from './evaluate.js';
export type { EvaluationData, EvaluationResult } from './evaluate.js';
export { saveCheckpoint, loadCheckpoint, findResumableCheckpoint, CHECKPOINT_FILES } from './checkpoint.js';
export type {
  SaveCheckpointOptions,
  LoadCheckpointOptions,
  LoadedCheckpoint,
  TrainingProgress,
  TrainerCheckpointDocument,
  ResumeCandidate,
} from './checkpoint.js';
export { tokensChecksum } from './dataset-checksum.js';
