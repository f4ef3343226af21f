// The training loop's standard callbacks: loggers, terminal progress, the user's hooks, the non-finite guard, periodic evaluation and checkpoints.
import type { MemoryState } from '@engram/memory';
import type { MemoryTransformer } from '@engram/model';
import type { Optimizer } from '@tensorflow/tfjs';
import type { EvaluationRecord, RunRecord, RunView, StepRecord, TrainerCallback } from './callbacks.js';
import type { TrainingProgress } from './checkpoint.js';
import { saveCheckpoint } from './checkpoint.js';
import { pruneCheckpoints } from './checkpoint-store.js';
import { NonFiniteEvaluationError, NonFiniteLossError, TrainerError } from './errors.js';
import { evaluate } from './evaluate.js';
import type { EvaluationData, EvaluationResult } from './evaluate.js';
import type { Logger } from './loggers.js';
import { formatDuration } from './progress.js';
import type { ProgressReporter } from './progress.js';

/** The run as the loop's own callbacks see it: the view plus the mutable position and the emitters. */
export interface RunControl extends RunView {
  readonly progress: TrainingProgress;
  /** Sends a record to every callback's hook for it. */
  emitEvaluation(record: EvaluationRecord): Promise<void>;
  emitCheckpoint(path: string, removed: string[]): Promise<void>;
  emitEnd(reason: 'completed' | 'non-finite', extra: { message?: string }): Promise<void>;
  /** Runs `onEvaluationStart` of every callback. */
  startEvaluation(split: string, totalBatches: number | null): Promise<void>;
  /** Runs `onEvaluationBatch` of every callback. */
  evaluationBatch(done: number, totalBatches: number | null): void;
  /** Runs `onBeforeCheckpoint` of every callback. */
  beforeCheckpoint(): Promise<void>;
}

const now = () => new Date().toISOString();

/** Writes every record to the loggers (adding `time` to step and evaluation records); syncs them before a checkpoint. */
export function loggingCallback(loggers: readonly Logger[]): TrainerCallback {
  const write = (record: RunRecord) => {
    for (const logger of loggers) logger.write(record);
  };
  return {
    onStart: (header) => write(header),
    onStep: (record) => write({ ...record, time: now() }),
    onEvaluation: (record) => write({ ...record, time: now() }),
    onBeforeCheckpoint: () => {
      for (const logger of loggers) logger.sync();
    },
    onCheckpoint: (record) => write(record),
    onWarning: (record) => write(record),
    onEnd: (record) => write(record),
    close: () => {
      for (const logger of loggers) logger.close();
    },
  };
}

/** One line for an evaluation: split, bits per token, word perplexity, error rate, time. */
export function describeEvaluation(record: EvaluationRecord): string {
  return (
    `step ${record.step}: ${record.split} ${record.bitsPerToken.toFixed(4)} bits/token` +
    (record.wordLevelPerplexity === undefined ? '' : `, word perplexity ${record.wordLevelPerplexity.toFixed(2)}`) +
    (record.errorRate === undefined ? '' : `, error rate ${record.errorRate.toFixed(4)}`) +
    (record.best ? ' (best)' : '') +
    ` in ${record.seconds.toFixed(1)} s`
  );
}

/**
 * Terminal progress: the training bar per step, the evaluation bar, evaluation results, warnings (unless
 * the caller takes them with `onWarning`), the non-finite stop and a summary line at the end.
 */
export function progressCallback(
  reporter: ProgressReporter,
  options: { printWarnings: boolean; warningStream: NodeJS.WritableStream; quiet: boolean; bestMetric: string },
): TrainerCallback {
  const started = Date.now();
  let tokens = 0;
  let stepsRun = 0;
  return {
    onStep: (record) => {
      tokens += record.tokens;
      stepsRun += 1;
      reporter.step({
        step: record.step,
        loss: record.loss,
        taskLoss: record.taskLoss,
        learningRate: record.learningRate,
        tokensPerSecond: record.tokensPerSecond,
        applied: record.applied,
      });
    },
    onEvaluationStart: (info) => reporter.evaluationStart({ split: info.split, totalBatches: info.totalBatches }),
    onEvaluationBatch: (done) => reporter.evaluationBatch(done),
    onEvaluation: (record) => {
      reporter.evaluationEnd();
      reporter.message(describeEvaluation(record));
    },
    onWarning: (record) => {
      if (!options.printWarnings) return;
      // Silent progress still shows warnings: they are not progress.
      if (options.quiet) options.warningStream.write(`warning: ${record.message}\n`);
      else reporter.message(`warning: ${record.message}`);
    },
    onEnd: (record) => {
      reporter.evaluationEnd();
      if (record.reason !== 'completed') {
        if (record.message !== undefined) reporter.message(record.message);
        return;
      }
      const seconds = (Date.now() - started) / 1000;
      const best =
        record.bestMetric === null || record.bestMetric === undefined
          ? 'no evaluation'
          : `best validation ${record.bestMetric.toFixed(4)}${options.bestMetric === 'bitsPerToken' ? ' bits/token' : ` (${options.bestMetric})`} at step ${record.bestStep}`;
      reporter.message(
        `done: ${stepsRun} steps (to step ${record.step}) in ${formatDuration(seconds)}, ` +
          `${Math.round(seconds > 0 ? tokens / seconds : 0).toLocaleString('en-US')} tokens/s, ${best}`,
      );
    },
    close: () => reporter.stop(),
  };
}

/** The caller's `onStep` / `onEvaluation` / `onWarning` hooks. */
export function hooksCallback(hooks: {
  onStep?: (record: StepRecord) => void | Promise<void>;
  onEvaluation?: (record: EvaluationRecord) => void | Promise<void>;
  onWarning?: (message: string) => void;
}): TrainerCallback {
  return {
    onStep: async (record) => {
      await hooks.onStep?.(record);
    },
    onEvaluation: async (record) => {
      await hooks.onEvaluation?.(record);
    },
    onWarning: (record) => {
      hooks.onWarning?.(record.message);
    },
  };
}

/** Stops the run with {@link NonFiniteLossError} after `maxInARow` non-finite steps in a row. */
export function nonFiniteGuard(run: RunControl, maxInARow: number): TrainerCallback {
  return {
    onStep: async (record) => {
      if (run.progress.nonFiniteInARow < maxInARow) return;
      const error = new NonFiniteLossError({
        step: record.step,
        inARow: run.progress.nonFiniteInARow,
        total: run.progress.nonFiniteTotal,
        loss: record.loss,
        gradientNorm: record.gradientNorm,
      });
      await run.emitEnd('non-finite', { message: error.message });
      throw error;
    },
  };
}

type BestMetric = 'bitsPerToken' | 'wordLevelPerplexity' | 'errorRate';

function metricOf(result: EvaluationResult, metric: BestMetric): number {
  const value = result[metric];
  if (typeof value !== 'number') {
    throw new TrainerError(`train: the evaluation produced no ${metric}; check evaluation.words / evaluation.errorRate.`);
  }
  return value;
}

/**
 * Evaluates every `every` steps and at the last step; keeps the best metric in the run's progress; a
 * non-finite validation loss stops the run (the weights went bad) with {@link NonFiniteLossError}.
 */
export function evaluationCallback(
  run: RunControl,
  options: { model: MemoryTransformer; data: EvaluationData; every: number; bestMetric: BestMetric; afterEvaluation?: () => void },
): TrainerCallback {
  return {
    onStep: async (record) => {
      const step = record.step;
      if (!((options.every > 0 && step % options.every === 0) || step === run.totalSteps)) return;
      const split = options.data.name ?? 'validation';
      const totalBatches =
        options.data.totalBatches === undefined
          ? null
          : Math.min(options.data.totalBatches, options.data.maxBatches ?? Number.POSITIVE_INFINITY);
      await run.startEvaluation(split, totalBatches);
      let evaluation: EvaluationResult;
      try {
        evaluation = evaluate(options.model, options.data, { onBatch: (done) => run.evaluationBatch(done, totalBatches) });
      } catch (error) {
        if (!(error instanceof NonFiniteEvaluationError)) throw error;
        const stop = new NonFiniteLossError({
          step,
          inARow: run.progress.nonFiniteInARow,
          total: run.progress.nonFiniteTotal,
          loss: error.loss,
          gradientNorm: record.gradientNorm,
          during: 'evaluation',
        });
        await run.emitEnd('non-finite', { message: stop.message });
        throw stop;
      }
      options.afterEvaluation?.();
      const metric = metricOf(evaluation, options.bestMetric);
      const improved = Number.isFinite(metric) && (run.progress.bestMetric === null || metric < run.progress.bestMetric);
      if (improved) {
        run.progress.bestMetric = metric;
        run.progress.bestStep = step;
      }
      await run.emitEvaluation({ type: 'evaluation', step, ...evaluation, metric, best: improved });
    },
  };
}

/**
 * Writes a checkpoint every `every` steps, at the last step and (with `keepBest`) at each step where the
 * best metric improved; prunes to `keepLast` plus the best.
 */
export function checkpointCallback(
  run: RunControl,
  options: {
    directory: string;
    every: number;
    keepLast: number;
    keepBest: boolean;
    model: MemoryTransformer;
    optimizer: Optimizer;
    separateOptimizer: Optimizer | null;
    memoryState: () => MemoryState | null;
    runDescription: Record<string, unknown>;
  },
): TrainerCallback {
  return {
    onStep: async (record) => {
      const step = record.step;
      const improved = run.progress.bestStep === step;
      if (!(step % options.every === 0 || step === run.totalSteps || (improved && options.keepBest))) return;
      const memoryState = options.memoryState();
      if (memoryState === null) return;
      await run.beforeCheckpoint();
      const path = await saveCheckpoint({
        directory: options.directory,
        model: options.model,
        optimizer: options.optimizer,
        separateOptimizer: options.separateOptimizer,
        memoryState,
        progress: run.progress,
        run: options.runDescription,
      });
      const keep = options.keepBest && run.progress.bestStep !== null ? [run.progress.bestStep] : [];
      const removed = await pruneCheckpoints(options.directory, { keepLast: options.keepLast, keep });
      await run.emitCheckpoint(path, removed);
    },
  };
}
