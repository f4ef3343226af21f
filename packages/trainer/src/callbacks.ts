// The training loop's callback contract: the records of a run (header, step, evaluation, checkpoint, warning, end) and the hooks that receive them.
import type { MemoryPeaks, ThroughputSummary } from '@engram/metrics';
import type { TrainingProgress } from './checkpoint.js';
import type { EvaluationResult } from './evaluate.js';

/** One log line per optimizer step. */
export interface StepRecord {
  type: 'step';
  step: number;
  /** Epoch of the training batch. */
  epoch: number;
  loss: number;
  taskLoss: number;
  auxiliaryLoss: number;
  separateLoss: number | null;
  /** Global gradient norm before clipping. */
  gradientNorm: number;
  learningRate: number;
  /** False when the update was skipped (non-finite loss or gradient). */
  applied: boolean;
  nonFiniteInARow: number;
  nonFiniteTotal: number;
  /** Tokens in the step (K x B x T for K segments per step). */
  tokens: number;
  /** Wall time of the step in seconds. */
  seconds: number;
  tokensPerSecond: number;
  /** Engine tensor bytes after the step, and the largest value sampled so far. */
  tensorBytes: number;
  peakTensorBytes: number;
  /** True peak inside the step (only on profiled steps, see `profileMemoryEvery`). */
  stepPeakTensorBytes?: number;
  rssBytes: number;
  /** Memory slots per layer after the step (policy telemetry). */
  memorySlots: number[];
  /** Further per-layer telemetry (spans, compressed slots, ...). */
  telemetry: Record<string, number[]>;
}

/** One log line per evaluation. */
export interface EvaluationRecord extends EvaluationResult {
  type: 'evaluation';
  step: number;
  /** The value of `bestMetric`. */
  metric: number;
  /** Whether this evaluation is the best so far. */
  best: boolean;
}

/** The first record of every start or resume: what the run is. */
export interface HeaderRecord {
  type: 'header';
  time: string;
  seed: number;
  resumedFromStep: number | null;
  resumedFromCheckpoint: string | null;
  config: Record<string, unknown>;
  model: unknown;
  policy: { kind: string; config: unknown };
  parameterCount: number;
  temporalRange: number;
  dataset: { checksum: string | null; position: unknown };
  versions: Record<string, string | null>;
}

/** A checkpoint was published (and older ones pruned). */
export interface CheckpointRecord {
  type: 'checkpoint';
  step: number;
  time: string;
  path: string;
  removed: string[];
}

/** A warning of the run. */
export interface WarningRecord {
  type: 'warning';
  step: number;
  time: string;
  message: string;
}

/** The last record of a run that ended (completed, or stopped by the non-finite guard). */
export interface EndRecord {
  type: 'end';
  step: number;
  time: string;
  reason: 'completed' | 'non-finite';
  message?: string;
  nonFiniteTotal?: number;
  bestMetric?: number | null;
  bestStep?: number | null;
  throughput?: ThroughputSummary | null;
  memory?: MemoryPeaks;
}

/** Every record a run emits, as loggers receive it (step and evaluation records get a `time`). */
export type RunRecord =
  | HeaderRecord
  | (StepRecord & { time: string })
  | (EvaluationRecord & { time: string })
  | CheckpointRecord
  | WarningRecord
  | EndRecord;

/** What callbacks see of the run. */
export interface RunView {
  /** The step the run ends at. */
  readonly totalSteps: number;
  /** Steps done before this call started (a resumed run's checkpoint step, else 0). */
  readonly startStep: number;
  /** The run's position (step, best metric, non-finite counts); only the loop changes it. */
  readonly progress: Readonly<TrainingProgress>;
  /** Emits a warning: logged, printed above the progress bar (or given to `onWarning`). */
  warn(message: string): Promise<void>;
}

type Awaitable = void | Promise<void>;

/**
 * Hooks of the training loop, called in the order the callbacks are listed. A hook may throw to stop
 * the run (the non-finite guard does). Records emitted from inside a hook (an evaluation callback
 * emitting its result) reach every callback before the emitting hook returns.
 */
export interface TrainerCallback {
  /** After the checkpoint (if any) is restored and the header is built. */
  onStart?(header: HeaderRecord, run: RunView): Awaitable;
  /** After every optimizer step. */
  onStep?(record: StepRecord, run: RunView): Awaitable;
  /** Before an evaluation pass; `totalBatches` is null when the split's length is unknown. */
  onEvaluationStart?(info: { step: number; split: string; totalBatches: number | null }, run: RunView): Awaitable;
  /** After each evaluation batch (synchronous: the pass itself is). */
  onEvaluationBatch?(done: number, totalBatches: number | null): void;
  /** After every evaluation with its result. */
  onEvaluation?(record: EvaluationRecord, run: RunView): Awaitable;
  /** Before a checkpoint is published (loggers hand their records to the OS, so the log covers the checkpoint). */
  onBeforeCheckpoint?(step: number, run: RunView): Awaitable;
  onCheckpoint?(record: CheckpointRecord, run: RunView): Awaitable;
  onWarning?(record: WarningRecord, run: RunView): Awaitable;
  /** Last hook of a completed run, or of one the guard stopped. */
  onEnd?(record: EndRecord, run: RunView): Awaitable;
  /** Always called when `train` returns or throws (release files, stop the bar). */
  close?(): void;
}
