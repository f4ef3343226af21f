// Memory estimate of a command before anything is allocated (weights, gradients, Adam state, memory state, activations), checked against the wasm heap (assertTensorBudget) and the machine's memory.
import { totalmem } from 'node:os';
import { assertTensorBudget, TensorBudgetError } from '@engram/kernels';
import type { ModelConfig, SavedModelConfig } from '@engram/model';
import type { EngramConfig } from './config/schema.js';
import { CliError } from './errors.js';

/** The shape numbers that decide how many bytes a step needs: the model's V, D, H, L, F, T, plus B and M. */
export interface BudgetShape
  extends Pick<ModelConfig, 'vocabSize' | 'modelDim' | 'numHeads' | 'numLayers' | 'feedForwardDim' | 'segmentLength'> {
  /** Rows processed together (B). */
  batchSize: number;
  /** Memory slots a layer's attention reads besides the segment (M): keys per query are T + M. */
  memorySlots: number;
  /** Every weight of the model and its policy (P). */
  parameters: number;
  /** Segments unrolled in one gradient step (K, compressive bptt), 1 otherwise. */
  segmentsPerStep: number;
}

/** Bytes of each part of an estimate. */
export interface MemoryEstimate {
  weights: number;
  /** Gradients and Adam's two moments (training only). */
  optimizer: number;
  /** Memory state carried between segments: [B, M, D] per layer. */
  memoryState: number;
  /** Intermediate tensors of one (unrolled) step: kept for the backward pass, or until the step's tidy ends. */
  activations: number;
  total: number;
}

const FLOAT_BYTES = 4;

/** Float32 copies kept of each tensor family (see {@link segmentActivationBytes}). */
interface CopyCounts {
  scores: number;
  tokens: number;
  keys: number;
  feedForward: number;
  logits: number;
}

/**
 * Copies fitted to tf.profile peaks of this model on wasm with Engram's kernels at seven shapes (D 32-256,
 * T 16-128, M 16-256, B 2-8, V 90-2000): the smallest whole numbers that keep every estimate at least 1.05x
 * the peak with the lowest worst ratio (training 1.06-1.43x, evaluation 1.07-1.92x). Training frees each op's
 * saved tensors as its backward step runs (the model's own backward pass), so the per-token vectors dominate;
 * an evaluation keeps its segment's intermediates until the step's tidy ends. budget.test.ts checks the
 * estimate stays above the measured peak and within 2.5x of it.
 */
const TRAINING_COPIES: CopyCounts = { scores: 1, tokens: 58, keys: 1, feedForward: 0, logits: 3 };
const INFERENCE_COPIES: CopyCounts = { scores: 1, tokens: 48, keys: 0, feedForward: 0, logits: 1 };

/**
 * Activation bytes of one segment: per layer, copies of the attention scores [B, H, T, T+M], the per-token
 * vectors [B, T, D], the keys and values over memory and segment [B, T+M, D] and the feed-forward hidden
 * [B, T, F]; plus copies of the logits [B, T, V].
 */
function segmentActivationBytes(shape: BudgetShape, copies: CopyCounts): number {
  const { batchSize: B, numHeads: H, segmentLength: T, memorySlots: M, modelDim: D, feedForwardDim: F, vocabSize: V } = shape;
  const perLayer =
    copies.scores * B * H * T * (T + M) + copies.tokens * B * T * D + copies.keys * B * (T + M) * D + copies.feedForward * B * T * F;
  return FLOAT_BYTES * (shape.numLayers * perLayer + copies.logits * B * T * V);
}

/** Bytes one training step needs: weights, gradients + Adam moments (3x the weights), memory state, K segments of activations. */
export function estimateTrainingBytes(shape: BudgetShape): MemoryEstimate {
  const weights = FLOAT_BYTES * shape.parameters;
  const optimizer = 3 * weights;
  const memoryState = FLOAT_BYTES * shape.numLayers * shape.batchSize * shape.memorySlots * shape.modelDim;
  const activations = shape.segmentsPerStep * segmentActivationBytes(shape, TRAINING_COPIES);
  return { weights, optimizer, memoryState, activations, total: weights + optimizer + memoryState + activations };
}

/** Bytes an evaluation (or generation, or inspection) step needs: weights, memory state, one segment of activations. */
export function estimateInferenceBytes(shape: BudgetShape): MemoryEstimate {
  const weights = FLOAT_BYTES * shape.parameters;
  const memoryState = FLOAT_BYTES * shape.numLayers * shape.batchSize * shape.memorySlots * shape.modelDim;
  const activations = segmentActivationBytes(shape, INFERENCE_COPIES);
  return { weights, optimizer: 0, memoryState, activations, total: weights + memoryState + activations };
}

/**
 * Memory slots per layer of a policy's settings (the configuration's `memory` section and the saved
 * `policy.config` use the same field names): FIFO memoryLength, compressive memoryLength + compressedLength,
 * Expire-Span maxMemory or maxSpan + ramp, Adaptive-Span maxSpan + ramp + buffer. `evaluation` takes the
 * eval lengths where a policy has them.
 */
export function memorySlotsOf(kind: string, memory: Record<string, unknown>, evaluation: boolean): number {
  const number = (key: string): number | undefined => (typeof memory[key] === 'number' ? (memory[key] as number) : undefined);
  switch (kind) {
    case 'txl':
    case 'fifo':
      return (evaluation ? number('evalMemoryLength') : undefined) ?? number('memoryLength') ?? 0;
    case 'compressive':
      return (
        ((evaluation ? number('evalMemoryLength') : undefined) ?? number('memoryLength') ?? 0) +
        ((evaluation ? number('evalCompressedLength') : undefined) ?? number('compressedLength') ?? 0)
      );
    case 'expire-span':
      return number('maxMemory') ?? (number('maxSpan') ?? 0) + (number('ramp') ?? 0);
    case 'adaptive-span':
      return (number('maxSpan') ?? 0) + (number('ramp') ?? 0) + (number('buffer') ?? 0);
    default:
      return 0;
  }
}

/**
 * Parameters of a configuration, counted from its shape before any model exists: embedding V*D, output
 * D*V + V (no weight when tied), per layer the q, k, v, output and position projections 5*D^2, the
 * feed-forward 2*D*F + F + D and two norms 4*D; the content and position biases 2*D (per layer or shared);
 * the final norm 2*D; and the compressor's convolutions (rate*D*D + D per layer and dilation).
 */
export function parameterCountOf(config: EngramConfig, vocabSize: number): number {
  const { modelDim: D, feedForwardDim: F, numLayers: L } = config.model;
  const output = config.model.tieEmbeddings ? vocabSize : D * vocabSize + vocabSize;
  const perLayer = 5 * D * D + 2 * D * F + F + D + 4 * D;
  const biases = 2 * D * (config.model.perLayerPositionBiases ? L : 1);
  let policy = 0;
  if (config.kind === 'compressive' && (config.memory.compressor === 'conv' || config.memory.compressor === 'dilated-conv')) {
    const convolutions = config.memory.compressor === 'dilated-conv' ? (config.memory.dilations ?? [1, 2, 4]).length : 1;
    policy = L * convolutions * (config.memory.compressionRate * D * D + D);
  }
  return vocabSize * D + output + L * perLayer + biases + 2 * D + policy;
}

/** The training shape of a configuration for a tokenizer of `vocabSize` tokens. */
export function trainingShapeOf(config: EngramConfig, vocabSize: number, segmentsPerStep: number): BudgetShape {
  const model = config.model;
  const vocabulary = model.vocabSize === 'auto' ? vocabSize : Math.max(model.vocabSize, vocabSize);
  return {
    vocabSize: vocabulary,
    modelDim: model.modelDim,
    numHeads: model.numHeads,
    numLayers: model.numLayers,
    feedForwardDim: model.feedForwardDim,
    segmentLength: model.segmentLength,
    batchSize: config.training.batchSize,
    memorySlots: memorySlotsOf(config.kind, config.memory as Record<string, unknown>, false),
    parameters: parameterCountOf(config, vocabulary),
    segmentsPerStep,
  };
}

/** The inference shape of a saved model (config.json: its exact tensors) at `batchSize` rows of `segmentLength` tokens. */
export function savedModelShapeOf(saved: SavedModelConfig, batchSize: number, segmentLength = saved.model.segmentLength): BudgetShape {
  const parameters = Object.values(saved.tensors ?? {}).reduce(
    (sum, shape) => sum + shape.reduce((product, size) => product * size, 1),
    0,
  );
  return {
    vocabSize: saved.model.vocabSize,
    modelDim: saved.model.modelDim,
    numHeads: saved.model.numHeads,
    numLayers: saved.model.numLayers,
    feedForwardDim: saved.model.feedForwardDim,
    segmentLength,
    batchSize,
    memorySlots: memorySlotsOf(saved.policy.kind, saved.policy.config, true),
    parameters,
    segmentsPerStep: 1,
  };
}

/** `1.23 GiB` or `45.6 MiB`. */
export function formatGibibytes(bytes: number): string {
  return bytes >= 0.1 * 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** Machine memory the CLI compares estimates with (os.totalmem; injectable for tests). */
export interface BudgetLimits {
  machineBytes?: number;
}

/**
 * Refuses (exit code 2) when `estimate` would not fit: on wasm, the 4 GiB heap (assertTensorBudget of
 * @engram/kernels, which counts the live tensors too); on every backend, the machine's memory. The message
 * gives the estimate, its parts, the limit and `fix` (the flags that shrink it).
 * @param what e.g. `one training step`
 */
export function assertFits(estimate: MemoryEstimate, what: string, fix: string, limits: BudgetLimits = {}): void {
  const parts =
    `weights ${formatGibibytes(estimate.weights)}` +
    (estimate.optimizer > 0 ? `, gradients and Adam state ${formatGibibytes(estimate.optimizer)}` : '') +
    `, memory ${formatGibibytes(estimate.memoryState)}, activations ${formatGibibytes(estimate.activations)}`;
  const needs = `${what} needs about ${formatGibibytes(estimate.total)} (${parts})`;
  try {
    assertTensorBudget(estimate.total, what);
  } catch (error) {
    if (!TensorBudgetError.isInstance(error)) throw error;
    throw new CliError(
      `${needs}, more than the wasm heap's ${formatGibibytes(error.limitBytes)} (${formatGibibytes(error.inUseBytes)} already in use): ${fix}, or use a native backend (--backend tensorflow, with @tensorflow/tfjs-node installed)`,
      { exitCode: 2, cause: error },
    );
  }
  const machine = limits.machineBytes ?? totalmem();
  if (estimate.total > machine) {
    throw new CliError(`${needs}, more than this machine's ${formatGibibytes(machine)} of memory: ${fix}`, { exitCode: 2 });
  }
}
