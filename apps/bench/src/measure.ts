// Trains one configuration with @engram/trainer and collects what the reports need: loss curve, memory over time, throughput, peaks, evaluations.
import type { SegmentSource } from '@engram/datasets';
import { createPolicy, modelConfigOf, unrollOf, type EngramConfig } from '@engram/cli';
import { createModel, type MemoryTransformer } from '@engram/model';
import { evaluate, type EvaluationData, type EvaluationResult } from '@engram/trainer';
import { train, type TrainResult } from '@engram/trainer/node';
import type { RunCache } from './run-cache.js';

/** The built-in memory kinds the bench compares (a config's `custom` kind names a user's module). */
export type BuiltInKind = Exclude<EngramConfig['kind'], 'custom'>;

/** The built-in kinds in the order the reports list them. */
export const builtInKinds: readonly BuiltInKind[] = ['txl', 'adaptive-span', 'compressive', 'expire-span'];

/** A configuration of one of the built-in kinds (what `benchConfig` returns). */
export type BuiltInConfig = EngramConfig & { kind: BuiltInKind };

/** One training run to measure. */
export interface RunSpec {
  /** Display name, e.g. `Expire-Span`. */
  name: string;
  /** The configuration (model shape, memory, training settings); steps and batch come from here. */
  config: BuiltInConfig;
  /** Vocabulary of the data. */
  vocabSize: number;
  /** Training batches (contiguous text streams or a task stream). */
  data: SegmentSource;
  /** Held-out data for the periodic and final evaluations. */
  evaluation?: EvaluationData;
  /** Run every N-th step under tf.profile for the true in-step tensor peak (0: never). */
  profileMemoryEvery?: number;
  /**
   * Called with the trained model before it is disposed (e.g. a test-split evaluation, the learned
   * spans); its numbers are returned as `inspection`.
   */
  inspect?: (model: MemoryTransformer) => Record<string, number>;
  /** Called with a one-line summary every `logEvery` steps. */
  log?: (line: string) => void;
  logEvery?: number;
  /**
   * What the training and evaluation data are (corpus, split sizes, task and its seeds): with the name and the
   * configuration it identifies the run in `cache`.
   */
  dataIdentity: Record<string, unknown>;
  /** Reuse the run from here when it was finished before, and store it when it finishes (`--cache`). */
  cache?: RunCache;
}

/** A point of a per-step series. */
export interface StepPoint {
  step: number;
  /** Task loss in nats (no auxiliary losses). */
  taskLoss: number;
  /** Memory slots attention reads, averaged over layers, after the step. */
  memorySlots: number;
  seconds: number;
}

/** What a measured run produced. */
export interface RunMeasurement {
  name: string;
  kind: BuiltInKind;
  parameters: number;
  temporalRange: number;
  steps: StepPoint[];
  evaluations: { step: number; bitsPerToken: number; errorRate?: number }[];
  result: TrainResult;
  /** The last evaluation (null without evaluation data). */
  final: EvaluationResult | null;
  /** Largest tensor bytes seen: the profiled in-step peak when profiled, else the sampled peak. */
  peakBytes: number | null;
  /** Mean memory slots per layer over the steps. */
  meanMemorySlotsPerLayer: number[] | null;
  /** What `spec.inspect` returned ({} without it). */
  inspection: Record<string, number>;
}

/** Builds the model a configuration describes. */
export function buildModel(config: EngramConfig, vocabSize: number): MemoryTransformer {
  return createModel(modelConfigOf(config, vocabSize), { policy: createPolicy(config) });
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * Trains `spec.config.training.steps` steps and returns the measurements; the model is disposed. With `spec.cache`,
 * a run finished before under the same identity is returned without training, and a new one is stored.
 */
export async function measureRun(spec: RunSpec): Promise<RunMeasurement> {
  const identity = {
    name: spec.name,
    config: spec.config,
    vocabSize: spec.vocabSize,
    data: spec.dataIdentity,
    evaluation: spec.evaluation === undefined ? null : { name: spec.evaluation.name, errorRate: spec.evaluation.errorRate === true },
    profileMemoryEvery: spec.profileMemoryEvery ?? 0,
    inspected: spec.inspect !== undefined,
  };
  const cached = (await spec.cache?.load(identity)) ?? null;
  if (cached !== null) {
    spec.log?.(`  ${spec.name}: reused from the run cache (${spec.cache?.directory})`);
    return cached;
  }
  const run = await trainAndMeasure(spec);
  await spec.cache?.save(identity, run);
  return run;
}

async function trainAndMeasure(spec: RunSpec): Promise<RunMeasurement> {
  const model = buildModel(spec.config, spec.vocabSize);
  const training = spec.config.training;
  const steps: StepPoint[] = [];
  let peakProfiled: number | null = null;
  const logEvery = spec.logEvery ?? Math.max(1, Math.round(training.steps / 4));
  try {
    const result = await train({
      model,
      data: spec.data,
      ...(spec.evaluation === undefined ? {} : { evaluation: spec.evaluation }),
      steps: training.steps,
      segmentsPerStep: unrollOf(spec.config),
      schedule: {
        learningRate: training.learningRate,
        warmupSteps: Math.min(training.warmupSteps, training.steps),
        decay: training.schedule,
      },
      clipNorm: training.clipNorm ?? 0,
      evalEvery: spec.evaluation === undefined ? 0 : training.evalEvery,
      ...(spec.evaluation?.errorRate === true ? { bestMetric: 'errorRate' as const } : {}),
      profileMemoryEvery: spec.profileMemoryEvery ?? 0,
      progress: 'none',
      resetMemoryAtEpoch: true,
      onWarning: (message) => spec.log?.(`  warning: ${message}`),
      onStep: (record) => {
        steps.push({
          step: record.step,
          taskLoss: record.taskLoss,
          memorySlots: mean(record.memorySlots),
          seconds: record.seconds,
        });
        if (record.stepPeakTensorBytes !== undefined) {
          peakProfiled = Math.max(peakProfiled ?? 0, record.stepPeakTensorBytes);
        }
        if (record.step % logEvery === 0 || record.step === training.steps) {
          spec.log?.(
            `  ${spec.name}: step ${record.step}/${training.steps} loss ${record.taskLoss.toFixed(3)} ` +
              `${(record.seconds * 1000).toFixed(0)} ms memory ${mean(record.memorySlots).toFixed(0)}`,
          );
        }
      },
    });
    const evaluations = result.evaluations.map((record) => ({
      step: record.step,
      bitsPerToken: record.bitsPerToken,
      ...(record.errorRate === undefined ? {} : { errorRate: record.errorRate }),
    }));
    const inspection = spec.inspect?.(model) ?? {};
    return {
      name: spec.name,
      kind: spec.config.kind,
      parameters: model.parameterCount(),
      temporalRange: model.temporalRange(),
      steps,
      evaluations,
      result,
      final: result.evaluations[result.evaluations.length - 1] ?? null,
      peakBytes: peakProfiled ?? result.memory.peakTensorBytes,
      meanMemorySlotsPerLayer: result.telemetry?.memorySlots.mean ?? null,
      inspection,
    };
  } finally {
    model.dispose();
  }
}

/** Evaluation throughput: evaluates `data` once and returns tokens per second and the result. */
export function measureEvaluation(model: MemoryTransformer, data: EvaluationData): EvaluationResult {
  return evaluate(model, data);
}
