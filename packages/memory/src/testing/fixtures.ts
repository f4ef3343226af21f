// Test fixtures shared by the policy packages' own tests: seeded token streams, segment tensors and records, runs of a model segment by segment or token by token, built policies per test, option-error checks.
import * as tf from '@tensorflow/tfjs';
import { afterEach, expect } from 'vitest';
import type { MemoryPolicy, MemoryState, ModelDimensions, SegmentRecord } from '../policy.js';
import { disposeState, disposeStateExcept } from '../state.js';
import type { ConformanceModelConfig } from './index.js';

/**
 * A model configuration small enough for a test (D = 8, 2 heads, 2 layers, segments of T = 4 over 13 tokens),
 * with `seed` and any `overrides`; pass it to `createModel` of `@engram/model`.
 */
export function smallModelConfig(seed: number, overrides: Partial<ConformanceModelConfig> = {}): ConformanceModelConfig {
  return {
    vocabSize: 13,
    modelDim: 8,
    numHeads: 2,
    numLayers: 2,
    feedForwardDim: 16,
    segmentLength: 4,
    initStandardDeviation: 0.3,
    seed,
    ...overrides,
  };
}

/**
 * `[rows][length]` pseudo-random tokens in [0, vocabSize) from the linear congruential generator
 * `x <- (1103515245 x + 12345) mod 2^31` started at `seed`, rows drawn one after another (token = x mod vocabSize).
 */
export function congruentialTokens(rows: number, length: number, vocabSize: number, seed: number): number[][] {
  let value = seed;
  return Array.from({ length: rows }, () =>
    Array.from({ length }, () => {
      value = (value * 1103515245 + 12345) % 2147483648;
      return value % vocabSize;
    }),
  );
}

/** Columns `[index * T, (index + 1) * T)` of every row of `stream` as int32 `[rows, T]` (T = `segmentLength`). */
export function segmentTokens(stream: number[][], index: number, segmentLength: number): tf.Tensor2D {
  const start = index * segmentLength;
  return tf.tensor2d(stream.map((row) => row.slice(start, start + segmentLength)), undefined, 'int32');
}

/** Inputs and next-token targets of one training segment (both int32 `[rows, T]`). */
export interface SegmentBatch {
  inputs: tf.Tensor2D;
  targets: tf.Tensor2D;
}

/** Segment `index` of `stream` as inputs `[rows, T]` and the same columns shifted one token on as targets `[rows, T]`. */
export function segmentBatch(stream: number[][], index: number, segmentLength: number): SegmentBatch {
  const start = index * segmentLength;
  return {
    inputs: segmentTokens(stream, index, segmentLength),
    targets: tf.tensor2d(stream.map((row) => row.slice(start + 1, start + 1 + segmentLength)), undefined, 'int32'),
  };
}

/** The part of `@engram/model`'s `MemoryTransformer` that {@link runSegments} uses. */
export interface SegmentModel {
  initialState(batchSize: number): MemoryState;
  /** One segment from `state`; consumes `state`. `logits` `[batch, T, vocab]`, owned by the caller. */
  forward(inputs: tf.Tensor2D, state: MemoryState): { logits: tf.Tensor; state: MemoryState };
}

/**
 * Runs segments `from .. to - 1` of `stream` through `model.forward` (evaluation) starting from `state` (default a
 * fresh state of `stream.length` rows), calling `observe(state, index)` with the state after each segment. Returns
 * the flat logits of each segment and the last state, which it disposes unless `keep` is set.
 */
export function runSegments<Observed = never>(
  model: SegmentModel,
  stream: number[][],
  options: {
    to: number;
    segmentLength: number;
    from?: number;
    state?: MemoryState;
    keep?: boolean;
    observe?: (state: MemoryState, index: number) => Observed;
  },
): { logits: number[][]; observed: Observed[]; state: MemoryState | undefined } {
  let state = options.state ?? model.initialState(stream.length);
  const logits: number[][] = [];
  const observed: Observed[] = [];
  for (let index = options.from ?? 0; index < options.to; index++) {
    const inputs = segmentTokens(stream, index, options.segmentLength);
    const result = model.forward(inputs, state);
    logits.push(Array.from(result.logits.dataSync()));
    tf.dispose([inputs, result.logits]);
    state = result.state;
    if (options.observe) observed.push(options.observe(state, index));
  }
  if (options.keep) return { logits, observed, state };
  disposeState(state);
  return { logits, observed, state: undefined };
}

/** What {@link trainSegmentsWithoutLeak} needs of a `trainStep` result. */
export interface SegmentTrainResult {
  applied: boolean;
  state: MemoryState;
}

/** The part of `@engram/model`'s `MemoryTransformer` that {@link trainSegmentsWithoutLeak} uses. */
export interface TrainableSegmentModel<Result extends SegmentTrainResult> {
  initialState(batchSize: number): MemoryState;
  trainStep(batch: SegmentBatch | SegmentBatch[], state: MemoryState, optimizers: { optimizer: tf.Optimizer }): Result;
}

/**
 * Trains `steps` steps on consecutive segments of `stream` from a fresh state, `unroll` segments per step (one
 * batch, or an array of them for BPTT), expecting every step to be applied and calling `afterStep(result, step)`.
 * The first step runs before the leak check (it creates the optimizer's slots, which live as long as the
 * optimizer); the remaining `steps - 1` must leave the tensor count where it was. Returns the last state (the
 * caller disposes it).
 */
export function trainSegmentsWithoutLeak<Result extends SegmentTrainResult>(
  model: TrainableSegmentModel<Result>,
  stream: number[][],
  options: {
    steps: number;
    segmentLength: number;
    optimizer: tf.Optimizer;
    unroll?: number;
    afterStep?: (result: Result, step: number) => void;
  },
): MemoryState {
  const unroll = options.unroll ?? 1;
  let state = model.initialState(stream.length);
  const trainOne = (step: number): void => {
    const batches = Array.from({ length: unroll }, (_, offset) => segmentBatch(stream, step * unroll + offset, options.segmentLength));
    const result = model.trainStep(unroll === 1 ? (batches[0] as SegmentBatch) : batches, state, { optimizer: options.optimizer });
    expect(result.applied).toBe(true);
    state = result.state;
    options.afterStep?.(result, step);
    for (const batch of batches) tf.dispose([batch.inputs, batch.targets]);
  };
  trainOne(0);
  const before = tf.memory().numTensors;
  for (let step = 1; step < options.steps; step++) trainOne(step);
  expect(tf.memory().numTensors - before, `tensors left behind by steps 1 to ${options.steps - 1}`).toBe(0);
  return state;
}

/**
 * A record for `policy.write`: the given layer inputs `[batch, T, D]` and positions `tokensSeen .. tokensSeen + T - 1`
 * in every row, no content attention. The caller disposes the inputs and `positions`.
 */
export function segmentRecord(layerInputs: tf.Tensor3D[], tokensSeen: number, training = false): SegmentRecord {
  const [batch, segment] = (layerInputs[0] as tf.Tensor3D).shape;
  const row = Array.from({ length: segment }, (_, index) => tokensSeen + index);
  return {
    layerInputs,
    positions: tf.tensor2d(Array.from({ length: batch }, () => row), [batch, segment], 'int32'),
    contentAttention: [],
    training,
  };
}

/**
 * Writes one segment of `layerInputs` with `policy` after `state` (as the model does: disposes what the old state
 * held and the new one does not, and the record's positions; the inputs too with `disposeInputs`).
 */
export function writeSegment(
  policy: MemoryPolicy,
  state: MemoryState,
  layerInputs: tf.Tensor3D[],
  options: { disposeInputs?: boolean } = {},
): MemoryState {
  const segment = segmentRecord(layerInputs, state.tokensSeen);
  const next = policy.write(state, segment);
  disposeStateExcept(state, next);
  segment.positions.dispose();
  if (options.disposeInputs) tf.dispose(layerInputs);
  return next;
}

/**
 * Naive reference of attention under a soft mask for one query (SPEC 4, 5): a softmax over the keys whose mask
 * is above 0, each weight multiplied by its mask, then renormalized as `a <- m a / (sum m a + 1e-8)`.
 */
export function softMaskedAttentionReference(scores: number[], mask: number[]): number[] {
  const visible = scores.map((_, key) => (mask[key] as number) > 0);
  const top = Math.max(...scores.filter((_, key) => visible[key]));
  const exps = scores.map((score, key) => (visible[key] ? Math.exp(score - top) : 0));
  const total = exps.reduce((a, b) => a + b, 0);
  const weighted = exps.map((value, key) => (value / total) * (mask[key] as number));
  const norm = weighted.reduce((a, b) => a + b, 0) + 1e-8;
  return weighted.map((value) => value / norm);
}

/** A model and the state it continues from, for {@link runSegmentsSideBySide}. */
export interface SegmentRun {
  model: SegmentModel;
  state: MemoryState;
}

/**
 * Feeds segments `from .. to - 1` of `stream` to two models, each from its own state, and hands `compare` the
 * logits `[batch, T, vocab]` of both for each segment (e.g. a model and its reloaded copy). Returns the two states
 * after the last segment (the caller disposes them).
 */
export function runSegmentsSideBySide(
  runs: [SegmentRun, SegmentRun],
  stream: number[][],
  options: { from: number; to: number; segmentLength: number; compare: (first: tf.Tensor, second: tf.Tensor, index: number) => void },
): [MemoryState, MemoryState] {
  let [first, second] = [runs[0].state, runs[1].state];
  for (let index = options.from; index < options.to; index++) {
    const inputs = segmentTokens(stream, index, options.segmentLength);
    const a = runs[0].model.forward(inputs, first);
    const b = runs[1].model.forward(inputs, second);
    options.compare(a.logits, b.logits, index);
    tf.dispose([inputs, a.logits, b.logits]);
    first = a.state;
    second = b.state;
  }
  return [first, second];
}

/** The part of `@engram/model`'s `MemoryTransformer` that {@link streamLogits} uses. */
export interface StreamingModel {
  /** A token-by-token stream; `push(token)` returns the next-token logits `[vocab]`. */
  createStream(): { push(token: number): ArrayLike<number>; dispose(): void };
}

/** Pushes `tokens` one by one through a new stream of `model` and returns every push's logits, concatenated (`[tokens * vocab]`); disposes the stream. */
export function streamLogits(model: StreamingModel, tokens: readonly number[]): number[] {
  const stream = model.createStream();
  const pushed: number[] = [];
  try {
    for (const token of tokens) pushed.push(...Array.from(stream.push(token)));
  } finally {
    stream.dispose();
  }
  return pushed;
}

/**
 * For a test file's policy-level tests: registers an `afterEach` that disposes (newest first) every policy the returned
 * function made during the test. The function creates a policy with `create(options)` and builds it for `dimensions`
 * (default `defaultDimensions`).
 */
export function builtPoliciesEachTest<Options, Policy extends MemoryPolicy>(
  create: (options?: Options) => Policy,
  defaultDimensions: ModelDimensions,
): (options?: Options, dimensions?: ModelDimensions) => Policy {
  const created: Policy[] = [];
  afterEach(() => {
    while (created.length > 0) created.pop()?.dispose();
  });
  return (options, dimensions = defaultDimensions) => {
    const policy = create(options);
    policy.build(dimensions);
    created.push(policy);
    return policy;
  };
}

/**
 * Expects `create(options)` to throw, for each `[options, option, message?]` case, an error of `errorClass` whose
 * `option` field is `option` and whose message names it in quotes (`"maxSpan"`), or is exactly `message` when given.
 */
export function expectOptionErrors<Options>(
  create: (options: Options) => unknown,
  errorClass: abstract new (...args: never[]) => Error & { readonly option: string },
  cases: readonly (readonly [options: Options, option: string, message?: string])[],
): void {
  for (const [options, option, message] of cases) {
    let error: unknown;
    try {
      create(options);
    } catch (caught) {
      error = caught;
    }
    expect(error, `the error for a bad "${option}"`).toBeInstanceOf(errorClass);
    expect((error as { option: string }).option).toBe(option);
    if (message === undefined) expect((error as Error).message).toContain(`"${option}"`);
    else expect((error as Error).message).toBe(message);
  }
}
