// What `train` accepts and returns, and the one place its options are checked and defaulted (before anything runs).
import type { SegmentSource } from '@engram/datasets';
import type { MemoryPeaks, TelemetrySummary, ThroughputSummary } from '@engram/metrics';
import type { MemoryTransformer } from '@engram/model';
import type { EvaluationRecord, StepRecord, TrainerCallback } from './callbacks.js';
import { describeValue } from '@engram/core';
import { InvalidTrainOptionError } from './errors.js';
import type { EvaluationData } from './evaluate.js';
import type { Logger } from './loggers.js';
import type { ProgressMode } from './progress.js';
import { resolveSchedule } from './schedule.js';
import type { ResolvedSchedule, ScheduleOptions } from './schedule.js';

/** Adam settings (SPEC 7: epsilon 1e-8 as in the papers' PyTorch runs). */
export interface OptimizerOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
}

/** Where and how often to write checkpoints. */
export interface CheckpointOptions {
  /** Root directory; each checkpoint is a `step-XXXXXXXX/` directory inside it. */
  directory: string;
  /** Save every this many steps (default: `evalEvery`, or 1000 without evaluation). The last step is always saved. */
  every?: number;
  /** Keep this many most recent checkpoints (default 3). */
  keepLast?: number;
  /**
   * Also keep the checkpoint of the best evaluation (default true): a checkpoint is written at
   * every step where the evaluation metric improves, and pruning never removes it.
   */
  keepBest?: boolean;
}

/**
 * Deliberate faults, for tests of the failure paths only. `nonFiniteLossAtSteps`: at these
 * (1-based) steps the batch's loss mask is filled with NaN, so the model's real forward and
 * backward pass produce a NaN loss and gradient norm, exactly as a numerical blow-up would.
 */
export interface FaultInjection {
  nonFiniteLossAtSteps?: readonly number[];
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model (with its memory policy). On resume, a model built with the same config and policy. */
  model: MemoryTransformer;
  /** Training batches: a contiguous-stream batcher (or task stream) of `@engram/datasets` with a resumable `{ step }` position. */
  data: SegmentSource;
  /** Validation split, evaluated every `evalEvery` steps and at the end. */
  evaluation?: EvaluationData;
  /** The run ends when this many optimizer steps are done (skipped non-finite steps count). */
  steps: number;
  schedule: ScheduleOptions;
  optimizer?: OptimizerOptions;
  /** Clip gradients by this global norm (default 0.25, the Transformer-XL setting); 0 disables clipping. */
  clipNorm?: number;
  /** Evaluate every this many steps (default 0: only at the end when `evaluation` is given). */
  evalEvery?: number;
  /** Which evaluation number decides the best checkpoint (lower is better; default `bitsPerToken`). */
  bestMetric?: 'bitsPerToken' | 'wordLevelPerplexity' | 'errorRate';
  checkpoint?: CheckpointOptions;
  /**
   * Continue from the newest valid checkpoint in `checkpoint.directory`. `true` fails with
   * {@link NothingToResumeError} (before anything is written) when there is no usable checkpoint;
   * `'if-present'` starts from step 0 when the directory holds no checkpoint at all (but still fails when
   * it holds only unusable ones, which a fresh start would overwrite).
   */
  resume?: boolean | 'if-present';
  /** JSON-lines log file (replaced on a fresh start, appended on resume). */
  log?: { path: string };
  /** Further loggers (CSV, TensorBoard, your own), written after the JSON-lines log. */
  loggers?: Logger[];
  /**
   * Your own callbacks, called after the standard ones for each event (logs, progress, `onStep` /
   * `onEvaluation` / `onWarning`, the non-finite guard, evaluation, checkpoints, then these).
   */
  callbacks?: TrainerCallback[];
  /** Stop after this many non-finite steps in a row (default 5). */
  maxNonFiniteInARow?: number;
  /** The run's seed, recorded in the log header (default: the model's seed, which drives its initialisation and dropout). */
  seed?: number;
  /**
   * Consecutive segments per optimizer step (default 1). With K > 1 the K segments are unrolled in
   * one gradient computation (`trainStep` with an array: the `bptt` compressor training of SPEC 3.2,
   * where the language-model loss of later segments trains what the policy wrote into memory).
   */
  segmentsPerStep?: number;
  /** Reset memory when the training batches start a new epoch (default true: the streams jump back to their beginnings). */
  resetMemoryAtEpoch?: boolean;
  /**
   * Run every N-th step under `tf.profile` to record the true peak of tensor bytes inside the step
   * (`stepPeakTensorBytes`; default 0 = never, since profiling slows the step down).
   */
  profileMemoryEvery?: number;
  /** Terminal progress: a bar on a TTY, plain lines otherwise (default `auto`). */
  progress?: ProgressMode;
  /** Where progress goes (default stderr). */
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** SHA-256 (or other) checksum of the training data, recorded in the log header. */
  datasetChecksum?: string;
  /** Any JSON-safe description of the run (dataset, task, command line), recorded in the header and checkpoints. */
  run?: Record<string, unknown>;
  /** Called after every step with its log record. */
  onStep?: (record: StepRecord) => void | Promise<void>;
  /** Called after every evaluation with its log record. */
  onEvaluation?: (record: EvaluationRecord) => void | Promise<void>;
  /** Called for every warning (default: printed above the progress, or to the progress stream with progress `none`). */
  onWarning?: (message: string) => void;
  faultInjection?: FaultInjection;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Steps done when the run ended (equals `steps`). */
  step: number;
  /** The step the run resumed from, or null for a fresh start. */
  resumedFromStep: number | null;
  /** Loss of the last step run by this call (null when nothing was left to do). */
  lastLoss: number | null;
  evaluations: EvaluationRecord[];
  bestMetric: number | null;
  bestStep: number | null;
  nonFiniteTotal: number;
  /** Throughput of the steps run by this call (null when none ran). */
  throughput: ThroughputSummary | null;
  memory: MemoryPeaks;
  telemetry: TelemetrySummary | null;
  /** The last checkpoint written, if any. */
  lastCheckpoint: string | null;
}

function requireInteger(option: string, value: unknown, minimum: number, fix?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum) {
    throw new InvalidTrainOptionError({
      option,
      expected: `an integer >= ${minimum}`,
      actual: describeValue(value),
      ...(fix === undefined ? {} : { fix }),
    });
  }
  return value;
}

function requireNumber(option: string, value: unknown, check: (value: number) => boolean, expected: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) {
    throw new InvalidTrainOptionError({ option, expected, actual: describeValue(value) });
  }
  return value;
}

export interface ResolvedOptions {
  steps: number;
  schedule: ResolvedSchedule;
  beta1: number;
  beta2: number;
  epsilon: number;
  clipNorm: number;
  evalEvery: number;
  bestMetric: NonNullable<TrainOptions['bestMetric']>;
  maxNonFiniteInARow: number;
  checkpoint: { directory: string; every: number; keepLast: number; keepBest: boolean } | null;
  profileMemoryEvery: number;
  segmentsPerStep: number;
  faultSteps: Set<number>;
}

export function resolveOptions(options: TrainOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidTrainOptionError({ option: 'options', expected: 'an object', actual: describeValue(options) });
  }
  if (typeof options.model?.trainStep !== 'function') {
    throw new InvalidTrainOptionError({
      option: 'model',
      expected: 'a MemoryTransformer (createModel from @engram/model)',
      actual: describeValue(options.model),
    });
  }
  const data = options.data as Partial<SegmentSource> | undefined;
  if (typeof data?.next !== 'function' || typeof data.getState !== 'function' || typeof data.setState !== 'function') {
    throw new InvalidTrainOptionError({
      option: 'data',
      expected: 'a batch source with next(), getState() and setState() (StreamBatcher or TaskStream of @engram/datasets)',
      actual: describeValue(options.data),
    });
  }
  const steps = requireInteger('steps', options.steps, 1);
  const schedule = resolveSchedule(options.schedule, steps);
  const beta1 = requireNumber('optimizer.beta1', options.optimizer?.beta1 ?? 0.9, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  const beta2 = requireNumber('optimizer.beta2', options.optimizer?.beta2 ?? 0.999, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  const epsilon = requireNumber('optimizer.epsilon', options.optimizer?.epsilon ?? 1e-8, (v) => v > 0, 'a number > 0');
  const clipNorm = requireNumber('clipNorm', options.clipNorm ?? 0.25, (v) => v >= 0, 'a number >= 0 (0 disables clipping)');
  const evalEvery = requireInteger('evalEvery', options.evalEvery ?? 0, 0);
  if (evalEvery > 0 && options.evaluation === undefined) {
    throw new InvalidTrainOptionError({
      option: 'evaluation',
      expected: 'evaluation data when evalEvery > 0',
      actual: 'undefined',
      fix: 'Pass evaluation: { batches: () => evaluationBatches(tokens, { batchSize, segmentLength }) }.',
    });
  }
  const bestMetric = options.bestMetric ?? 'bitsPerToken';
  if (!['bitsPerToken', 'wordLevelPerplexity', 'errorRate'].includes(bestMetric)) {
    throw new InvalidTrainOptionError({
      option: 'bestMetric',
      expected: "'bitsPerToken', 'wordLevelPerplexity' or 'errorRate'",
      actual: describeValue(bestMetric),
    });
  }
  if (bestMetric === 'errorRate' && options.evaluation !== undefined && options.evaluation.errorRate !== true) {
    throw new InvalidTrainOptionError({
      option: 'evaluation.errorRate',
      expected: "true when bestMetric is 'errorRate'",
      actual: describeValue(options.evaluation.errorRate),
    });
  }
  if (bestMetric === 'wordLevelPerplexity' && options.evaluation !== undefined && options.evaluation.words === undefined) {
    throw new InvalidTrainOptionError({
      option: 'evaluation.words',
      expected: "the split's word count when bestMetric is 'wordLevelPerplexity'",
      actual: 'undefined',
    });
  }
  const maxNonFiniteInARow = requireInteger('maxNonFiniteInARow', options.maxNonFiniteInARow ?? 5, 1);
  let checkpoint: ResolvedOptions['checkpoint'] = null;
  if (options.checkpoint !== undefined) {
    if (typeof options.checkpoint.directory !== 'string' || options.checkpoint.directory.length === 0) {
      throw new InvalidTrainOptionError({
        option: 'checkpoint.directory',
        expected: 'a directory path',
        actual: describeValue(options.checkpoint.directory),
      });
    }
    checkpoint = {
      directory: options.checkpoint.directory,
      every: requireInteger('checkpoint.every', options.checkpoint.every ?? (evalEvery > 0 ? evalEvery : 1000), 1),
      keepLast: requireInteger('checkpoint.keepLast', options.checkpoint.keepLast ?? 3, 1),
      keepBest: options.checkpoint.keepBest ?? true,
    };
  }
  if (options.resume !== undefined && options.resume !== true && options.resume !== false && options.resume !== 'if-present') {
    throw new InvalidTrainOptionError({ option: 'resume', expected: "true, false or 'if-present'", actual: describeValue(options.resume) });
  }
  if ((options.resume ?? false) !== false && checkpoint === null) {
    throw new InvalidTrainOptionError({
      option: 'checkpoint',
      expected: 'a checkpoint directory when resume is set',
      actual: 'undefined',
      fix: 'Pass checkpoint: { directory } pointing at the run to continue.',
    });
  }
  const profileMemoryEvery = requireInteger('profileMemoryEvery', options.profileMemoryEvery ?? 0, 0);
  const segmentsPerStep = requireInteger('segmentsPerStep', options.segmentsPerStep ?? 1, 1);
  const faultSteps = new Set(options.faultInjection?.nonFiniteLossAtSteps ?? []);
  return {
    steps,
    schedule,
    beta1,
    beta2,
    epsilon,
    clipNorm,
    evalEvery,
    bestMetric,
    maxNonFiniteInARow,
    checkpoint,
    profileMemoryEvery,
    segmentsPerStep,
    faultSteps,
  };
}
