// @engram/trainer/node (Node only): the training loop and its callbacks, loggers (JSON lines, CSV, TensorBoard), terminal progress, atomic checkpoints and resume.
export { JsonLinesWriter, readJsonLines, readTrainingLog } from './log.js';
export type { JsonLinesContent, TrainingLog } from './log.js';
export { createProgressReporter, formatDuration } from './progress.js';
export type { ProgressMode, ProgressOptions, ProgressReporter, ProgressStep } from './progress.js';
export { listCheckpoints, publishCheckpoint, pruneCheckpoints, verifyCheckpoint } from './checkpoint-store.js';
export type { CheckpointEntry, CheckpointManifest } from './checkpoint-store.js';
export { JsonLinesLogger, CsvLogger, TensorBoardLogger, scalarsOf } from './loggers.js';
export type { Logger } from './loggers.js';
export { EventFileWriter, readEventFile, maskedCrc32c, frameRecord } from './tensorboard.js';
export type { TensorBoardEvent } from './tensorboard.js';
export type {
  TrainerCallback,
  RunView,
  RunRecord,
  HeaderRecord,
  CheckpointRecord,
  WarningRecord,
  EndRecord,
} from './callbacks.js';
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
export { saveCheckpoint, loadCheckpoint, findResumableCheckpoint } from './checkpoint.js';
export type {
  SaveCheckpointOptions,
  LoadCheckpointOptions,
  LoadedCheckpoint,
  TrainingProgress,
  TrainerCheckpointDocument,
  ResumeCandidate,
} from './checkpoint.js';
