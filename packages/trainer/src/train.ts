// The training loop (SPEC 7): per step the scheduled learning rate, the next batch, model.trainStep (clipping, Adam, non-finite skipping) and the step record; everything else (logs, progress, evaluation, checkpoints, the non-finite guard) is a callback.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '@engram/datasets';
import { batchToTensors, disposeBatchTensors } from '@engram/datasets/tensors';
import type { BatchTensors } from '@engram/datasets/tensors';
import { disposeState } from '@engram/memory';
import type { MemoryState } from '@engram/memory';
import { MemoryTracker, TelemetryRecorder, ThroughputMeter, Stopwatch } from '@engram/metrics';
import { createAdam } from '@engram/model';
import type { Batch, TrainStepResult } from '@engram/model';
import type { EvaluationRecord, HeaderRecord, RunView, StepRecord, TrainerCallback } from './callbacks.js';
import { findResumableCheckpoint, loadCheckpoint } from './checkpoint.js';
import type { TrainingProgress } from './checkpoint.js';
import { removeLeftovers } from './checkpoint-store.js';
import { NothingToResumeError } from './errors.js';
import { JsonLinesLogger } from './loggers.js';
import type { Logger } from './loggers.js';
import { setLearningRate } from './optimizer-state.js';
import { createProgressReporter } from './progress.js';
import {
  checkpointCallback,
  evaluationCallback,
  hooksCallback,
  loggingCallback,
  nonFiniteGuard,
  progressCallback,
} from './run-callbacks.js';
import type { RunControl } from './run-callbacks.js';
import { learningRateAt } from './schedule.js';
import { resolveOptions } from './train-options.js';
import type { TrainOptions, TrainResult } from './train-options.js';

export type { StepRecord, EvaluationRecord } from './callbacks.js';
export type { CheckpointOptions, FaultInjection, OptimizerOptions, TrainOptions, TrainResult } from './train-options.js';

function trainerVersion(): string | null {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/** A mask of NaN for fault injection: `[batch, T]` float32. */
function nonFiniteMask(like: tf.Tensor2D): tf.Tensor2D {
  return tf.fill(like.shape, Number.NaN, 'float32') as tf.Tensor2D;
}

/** The loop's run state and event dispatch: callbacks are called in list order for each event. */
class Run implements RunControl {
  readonly totalSteps: number;
  readonly startStep: number;
  progress: TrainingProgress;
  callbacks: TrainerCallback[] = [];
  /** Warnings emitted so far. */
  readonly warnings: string[] = [];
  readonly evaluations: EvaluationRecord[] = [];
  lastCheckpoint: string | null;
  ended = false;
  #end: () => Record<string, unknown>;

  constructor(options: { totalSteps: number; progress: TrainingProgress; lastCheckpoint: string | null; end: () => Record<string, unknown> }) {
    this.totalSteps = options.totalSteps;
    this.startStep = options.progress.step;
    this.progress = options.progress;
    this.lastCheckpoint = options.lastCheckpoint;
    this.#end = options.end;
  }

  async dispatch<K extends keyof TrainerCallback>(hook: K, ...args: unknown[]): Promise<void> {
    for (const callback of this.callbacks) {
      const method = callback[hook] as ((...values: unknown[]) => void | Promise<void>) | undefined;
      if (method !== undefined) await method.apply(callback, [...args, this]);
    }
  }

  async warn(message: string): Promise<void> {
    this.warnings.push(message);
    await this.dispatch('onWarning', { type: 'warning', step: this.progress.step, time: new Date().toISOString(), message });
  }

  async emitEvaluation(record: EvaluationRecord): Promise<void> {
    this.evaluations.push(record);
    await this.dispatch('onEvaluation', record);
  }

  async emitCheckpoint(path: string, removed: string[]): Promise<void> {
    this.lastCheckpoint = path;
    await this.dispatch('onCheckpoint', { type: 'checkpoint', step: this.progress.step, time: new Date().toISOString(), path, removed });
  }

  async emitEnd(reason: 'completed' | 'non-finite', extra: { message?: string }): Promise<void> {
    this.ended = true;
    const fields = reason === 'completed' ? this.#end() : {};
    await this.dispatch('onEnd', { type: 'end', step: this.progress.step, time: new Date().toISOString(), reason, ...extra, ...fields });
  }

  async startEvaluation(split: string, totalBatches: number | null): Promise<void> {
    await this.dispatch('onEvaluationStart', { step: this.progress.step, split, totalBatches });
  }

  evaluationBatch(done: number, totalBatches: number | null): void {
    for (const callback of this.callbacks) callback.onEvaluationBatch?.(done, totalBatches);
  }

  async beforeCheckpoint(): Promise<void> {
    await this.dispatch('onBeforeCheckpoint', this.progress.step);
  }

  close(): void {
    for (const callback of this.callbacks) {
      try {
        callback.close?.();
      } catch {
        // One callback failing to release its files must not keep the others from releasing theirs.
      }
    }
  }
}

/**
 * Trains `options.model` for `options.steps` optimizer steps (SPEC 7) and returns a summary.
 *
 * The loop, per step: set the scheduled learning rate on the optimizers; take the next batch (fresh
 * memory at a new epoch); `model.trainStep` (LM gradient, clip by global norm, Adam; the policy's
 * separate loss with its own optimizer; memory write; `afterOptimizerStep`, e.g. Adaptive-Span
 * clamping); count non-finite steps (their update is skipped); build the step record and hand it to
 * the callbacks in order: loggers (`log`, `loggers`), progress, `onStep`, the non-finite guard (after
 * `maxNonFiniteInARow` in a row the run stops with {@link NonFiniteLossError}), evaluation every
 * `evalEvery` steps, checkpoints every `checkpoint.every` steps, at improvements of the best metric
 * and at the end, then `options.callbacks`.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const resolved = resolveOptions(options);
  const { model } = options;
  const data = options.data;
  const optimizer = createAdam({
    learningRate: learningRateAt(1, resolved.schedule),
    beta1: resolved.beta1,
    beta2: resolved.beta2,
    epsilon: resolved.epsilon,
  });
  const separateOptimizer =
    model.policy.separateVariables().length > 0
      ? createAdam({
          learningRate: learningRateAt(1, resolved.schedule),
          beta1: resolved.beta1,
          beta2: resolved.beta2,
          epsilon: resolved.epsilon,
        })
      : null;

  const runDescription = {
    steps: resolved.steps,
    schedule: resolved.schedule,
    optimizer: { name: 'adam', beta1: resolved.beta1, beta2: resolved.beta2, epsilon: resolved.epsilon },
    clipNorm: resolved.clipNorm,
    evalEvery: resolved.evalEvery,
    bestMetric: resolved.bestMetric,
    maxNonFiniteInARow: resolved.maxNonFiniteInARow,
    batchSize: data.batchSize,
    segmentLength: data.segmentLength,
    segmentsPerStep: resolved.segmentsPerStep,
    ...(options.run === undefined ? {} : { run: options.run }),
  };

  let state: MemoryState | null = null;
  let run: Run | null = null;
  const loggers: Logger[] = [];
  try {
    let progress: TrainingProgress = {
      step: 0,
      data: data.getState(),
      bestMetric: null,
      bestStep: null,
      nonFiniteInARow: 0,
      nonFiniteTotal: 0,
    };
    let resumedFrom: { path: string; step: number } | null = null;
    const pendingWarnings: string[] = [];
    const resume = options.resume ?? false;
    if (resume !== false && resolved.checkpoint !== null) {
      const candidate = await findResumableCheckpoint(resolved.checkpoint.directory);
      if (candidate.path === null && (resume === true || candidate.skipped.length > 0)) {
        throw new NothingToResumeError(resolved.checkpoint.directory, candidate.skipped);
      }
      await removeLeftovers(resolved.checkpoint.directory);
      for (const skipped of candidate.skipped) {
        pendingWarnings.push(
          `checkpoint at step ${skipped.step} (${skipped.path}) is unusable and was skipped: ${skipped.problem}`,
        );
      }
      if (candidate.path !== null) {
        const loaded = await loadCheckpoint(candidate.path, { model, optimizer, separateOptimizer });
        state = loaded.memoryState;
        progress = loaded.progress;
        data.setState(progress.data);
        resumedFrom = { path: candidate.path, step: progress.step };
        const saved = JSON.stringify({ ...loaded.run, steps: undefined });
        const current = JSON.stringify({ ...runDescription, steps: undefined });
        if (saved !== current) {
          pendingWarnings.push(
            `the run settings differ from those saved in ${candidate.path}; later steps will not match an uninterrupted run (saved ${saved}, now ${current})`,
          );
        }
      }
    }
    if (state === null) state = model.initialState(data.batchSize);

    const resumedFromStep = resumedFrom?.step ?? null;
    if (options.log !== undefined) loggers.push(new JsonLinesLogger(options.log.path));
    loggers.push(...(options.loggers ?? []));
    for (const logger of loggers) pendingWarnings.push(...logger.open({ resumedFromStep }));

    const memoryTracker = new MemoryTracker({ engine: () => tf.memory() });
    const throughput = new ThroughputMeter();
    const telemetry = new TelemetryRecorder();
    let lastLoss: number | null = null;
    const summaries = () => ({
      throughput: lastLoss !== null ? throughput.summary() : null,
      telemetry: telemetry.steps > 0 ? telemetry.summary() : null,
      memory: memoryTracker.peaks(),
    });
    run = new Run({
      totalSteps: resolved.steps,
      progress,
      lastCheckpoint: resumedFrom?.path ?? null,
      end: () => {
        const summary = summaries();
        return {
          nonFiniteTotal: progress.nonFiniteTotal,
          bestMetric: progress.bestMetric,
          bestStep: progress.bestStep,
          throughput: summary.throughput,
          memory: summary.memory,
        };
      },
    });
    const reporter = createProgressReporter({
      mode: options.progress ?? 'auto',
      totalSteps: resolved.steps,
      startStep: progress.step,
      ...(options.progressStream === undefined ? {} : { stream: options.progressStream }),
    });
    run.callbacks.push(
      loggingCallback(loggers),
      progressCallback(reporter, {
        printWarnings: options.onWarning === undefined,
        warningStream: options.progressStream ?? process.stderr,
        quiet: (options.progress ?? 'auto') === 'none',
        bestMetric: resolved.bestMetric,
      }),
      hooksCallback({
        ...(options.onStep === undefined ? {} : { onStep: options.onStep }),
        ...(options.onEvaluation === undefined ? {} : { onEvaluation: options.onEvaluation }),
        ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
      }),
      nonFiniteGuard(run, resolved.maxNonFiniteInARow),
    );
    if (options.evaluation !== undefined) {
      run.callbacks.push(
        evaluationCallback(run, {
          model,
          data: options.evaluation,
          every: resolved.evalEvery,
          bestMetric: resolved.bestMetric,
          afterEvaluation: () => memoryTracker.sample(),
        }),
      );
    }
    if (resolved.checkpoint !== null) {
      run.callbacks.push(
        checkpointCallback(run, {
          ...resolved.checkpoint,
          model,
          optimizer,
          separateOptimizer,
          memoryState: () => state,
          runDescription,
        }),
      );
    }
    run.callbacks.push(...(options.callbacks ?? []));

    const header: HeaderRecord = {
      type: 'header',
      time: new Date().toISOString(),
      seed: options.seed ?? model.config.seed,
      resumedFromStep,
      resumedFromCheckpoint: resumedFrom?.path ?? null,
      config: runDescription,
      model: model.config,
      policy: { kind: model.policy.kind, config: model.policy.config() },
      parameterCount: model.parameterCount(),
      temporalRange: model.temporalRange(),
      dataset: { checksum: options.datasetChecksum ?? null, position: progress.data },
      versions: {
        trainer: trainerVersion(),
        node: process.versions.node,
        tfjs: tf.version.tfjs,
        backend: tf.getBackend(),
      },
    };
    await run.dispatch('onStart', header);
    for (const message of pendingWarnings) await run.warn(message);

    while (progress.step < resolved.steps) {
      const step = progress.step + 1;
      const learningRate = learningRateAt(step, resolved.schedule);
      setLearningRate(optimizer, learningRate);
      if (separateOptimizer !== null) setLearningRate(separateOptimizer, learningRate);
      // K consecutive segments per step (BPTT unroll, SPEC 3.2); a group never spans an epoch boundary.
      const tokenBatches: TokenBatch[] = [];
      while (tokenBatches.length < resolved.segmentsPerStep) {
        const position = data.getState();
        const next = data.next();
        if (tokenBatches.length > 0 && next.startsEpoch) {
          data.setState(position);
          break;
        }
        tokenBatches.push(next);
      }
      const tokenBatch = tokenBatches[0] as TokenBatch;
      if (tokenBatch.startsEpoch && (options.resetMemoryAtEpoch ?? true)) {
        disposeState(state);
        state = model.initialState(data.batchSize);
      }
      const converted = tokenBatches.map((item) => batchToTensors(item));
      const injected = resolved.faultSteps.has(step) ? nonFiniteMask((converted[0] as BatchTensors).inputs) : null;
      const batches: Batch[] = converted.map((tensors, index) => {
        const batch: Batch = { inputs: tensors.inputs, targets: tensors.targets };
        if (index === 0 && injected !== null) batch.mask = injected;
        else if (tensors.mask !== null) batch.mask = tensors.mask;
        return batch;
      });
      const watch = new Stopwatch();
      let result: TrainStepResult;
      let stepPeakTensorBytes: number | undefined;
      try {
        const current = state;
        const runStep = () =>
          model.trainStep(
            batches.length === 1 ? (batches[0] as Batch) : batches,
            current,
            { optimizer, ...(separateOptimizer === null ? {} : { separateOptimizer }) },
            { clipNorm: resolved.clipNorm },
          );
        if (resolved.profileMemoryEvery > 0 && step % resolved.profileMemoryEvery === 0) {
          let captured: TrainStepResult | null = null;
          const profile = await tf.profile(() => {
            captured = runStep();
            return [];
          });
          result = captured as unknown as TrainStepResult;
          stepPeakTensorBytes = profile.peakBytes;
        } else {
          result = runStep();
        }
      } finally {
        converted.forEach((tensors) => disposeBatchTensors(tensors));
        injected?.dispose();
      }
      state = result.state;
      const seconds = watch.stop();
      const tokens = tokenBatches.reduce((sum, item) => sum + item.shape[0] * item.shape[1], 0);
      throughput.record(tokens, seconds);
      if (result.applied) {
        progress.nonFiniteInARow = 0;
      } else {
        progress.nonFiniteInARow += 1;
        progress.nonFiniteTotal += 1;
      }
      progress.step = step;
      progress.data = data.getState();
      lastLoss = result.loss;

      const sample = memoryTracker.sample();
      const policyTelemetry = model.policy.telemetry(state);
      telemetry.record(step, policyTelemetry);
      const perLayer: Record<string, number[]> = {};
      for (const [name, values] of Object.entries(policyTelemetry.perLayer)) perLayer[name] = [...values];
      const record: StepRecord = {
        type: 'step',
        step,
        epoch: tokenBatch.epoch,
        loss: result.loss,
        taskLoss: result.taskLoss,
        auxiliaryLoss: result.auxiliaryLoss,
        separateLoss: result.separateLoss,
        gradientNorm: result.gradientNorm,
        learningRate,
        applied: result.applied,
        nonFiniteInARow: progress.nonFiniteInARow,
        nonFiniteTotal: progress.nonFiniteTotal,
        tokens,
        seconds,
        tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
        tensorBytes: sample.tensorBytes ?? 0,
        peakTensorBytes: memoryTracker.peaks().peakTensorBytes ?? 0,
        ...(stepPeakTensorBytes === undefined ? {} : { stepPeakTensorBytes }),
        rssBytes: sample.rssBytes,
        memorySlots: [...policyTelemetry.memorySlots],
        telemetry: perLayer,
      };
      await run.dispatch('onStep', record);
    }

    const summary = summaries();
    await run.emitEnd('completed', {});
    return {
      step: progress.step,
      resumedFromStep,
      lastLoss,
      evaluations: run.evaluations,
      bestMetric: progress.bestMetric,
      bestStep: progress.bestStep,
      nonFiniteTotal: progress.nonFiniteTotal,
      throughput: summary.throughput,
      memory: summary.memory,
      telemetry: summary.telemetry,
      lastCheckpoint: run.lastCheckpoint,
    };
  } finally {
    if (run !== null) run.close();
    else for (const logger of loggers) logger.close();
    if (state !== null) disposeState(state);
    optimizer.dispose();
    separateOptimizer?.dispose();
  }
}

export type { RunView };
