// Conformance suite for MemoryPolicy implementations (ARCHITECTURE "plug-in contracts", SPEC 2.1, 2.3, 6): registers vitest tests.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { MemoryPolicyDescriptor } from '../descriptor.js';
import type { AttentionModulation, MemoryPolicy, MemoryState, ModelDimensions, SegmentRecord } from '../policy.js';
import { disposeState, disposeStateExcept, keepState, stateTensors } from '../state.js';
import { streamLogits } from './fixtures.js';

export {
  builtPoliciesEachTest,
  congruentialTokens,
  expectOptionErrors,
  runSegments,
  runSegmentsSideBySide,
  segmentBatch,
  segmentRecord,
  segmentTokens,
  smallModelConfig,
  softMaskedAttentionReference,
  streamLogits,
  trainSegmentsWithoutLeak,
  writeSegment,
} from './fixtures.js';
export type { SegmentBatch, SegmentModel, SegmentRun, SegmentTrainResult, StreamingModel, TrainableSegmentModel } from './fixtures.js';

/** The model configuration the suite hands to {@link ConformanceModelOptions.createModel}. */
export interface ConformanceModelConfig {
  vocabSize: number;
  modelDim: number;
  numHeads: number;
  numLayers: number;
  feedForwardDim: number;
  segmentLength: number;
  seed: number;
  initStandardDeviation: number;
}

/** The part of `@engram/model`'s `MemoryTransformer` the suite uses. */
export interface ConformanceModel {
  initialState(batchSize: number): MemoryState;
  /** One segment (any length) from `state`; consumes `state`. `logits` `[batch, T, vocab]`, owned by the caller. */
  forward(inputs: tf.Tensor2D, state: MemoryState): { logits: tf.Tensor; state: MemoryState };
  createStream(): { push(token: number): ArrayLike<number>; dispose(): void };
  dispose(): void;
}

/** Model-level checks (SPEC 2.3 and 6); pass `createModel` from `@engram/model`. */
export interface ConformanceModelOptions {
  createModel(config: ConformanceModelConfig, options: { policy: MemoryPolicy }): ConformanceModel;
  /**
   * A configuration of the policy whose memory keeps everything a 4-segment stream needs (e.g. a FIFO longer than
   * the stream): segment-by-segment logits must then equal one full causal pass (SPEC 2.3). Omit for a policy that
   * cannot keep everything.
   */
  keepEverything?: () => MemoryPolicy;
  /** Whether token-by-token streaming must equal teacher forcing with `create()` (SPEC 6); default true. */
  streaming?: boolean;
}

/** What `additionalTests` receives. */
export interface ConformanceContext {
  create: () => MemoryPolicy;
  dimensions: ModelDimensions;
  batchSize: number;
  /** One segment's record for `state` (random layer inputs, positions from `state.tokensSeen`); dispose with {@link disposeRecord}. */
  record(policy: MemoryPolicy, state: MemoryState, options?: { training?: boolean; seed?: number }): SegmentRecord;
  /** Runs `policy.write` the way the model does: keeps the new state, disposes what the old one no longer holds and the record. */
  step(policy: MemoryPolicy, state: MemoryState, record: SegmentRecord): MemoryState;
}

/** Options of {@link testMemoryPolicy}. */
export interface TestMemoryPolicyOptions {
  /** A fresh, unbuilt policy. */
  create: () => MemoryPolicy;
  /** Dimensions to build with (default 2 layers, width 8, 2 heads, segments of 3). */
  dimensions?: Partial<ModelDimensions>;
  /** Batch rows (default 2). */
  batchSize?: number;
  /** Title of the `describe` block (default `MemoryPolicy conformance: <kind>`). */
  name?: string;
  /** Model-level checks; needs `@engram/model`. */
  model?: ConformanceModelOptions;
  /** Registers further tests inside the same `describe` block. */
  additionalTests?: (context: ConformanceContext) => void;
}

/** Deterministic pseudo-random floats in [-1, 1) (a linear congruential generator; no tfjs RNG involved). */
export function pseudoRandom(count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let index = 0; index < count; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[index] = state / 2 ** 31 - 1;
  }
  return values;
}

/**
 * Parameter-free content attention `softmax(q kv^T / sqrt(D)) kv`: q `[batch, queries, D]`, kv `[batch, n, D]` ->
 * `[batch, queries, D]`. Stands in for the layer's own projections (compression losses need one).
 */
function plainContentAttention(queries: tf.Tensor3D, keyValues: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const scores = tf.div(tf.matMul(queries, keyValues, false, true), Math.sqrt(queries.shape[2]));
    return tf.matMul(tf.softmax(scores), keyValues) as tf.Tensor3D;
  });
}

/** Disposes the tensors of a record made by {@link ConformanceContext.record}. */
export function disposeRecord(record: SegmentRecord): void {
  record.positions.dispose();
  for (const tensor of record.layerInputs) tensor.dispose();
  for (const tensor of record.attentionProbabilities ?? []) tensor.dispose();
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let largest = 0;
  for (let index = 0; index < a.length; index++) {
    // Absolute below 1, relative above: |a - b| / (1 + |b|).
    const difference = Math.abs((a[index] as number) - (b[index] as number)) / (1 + Math.abs(b[index] as number));
    if (Number.isNaN(difference)) return Infinity;
    if (difference > largest) largest = difference;
  }
  return largest;
}

/** `[rows][length]` pseudo-random tokens in [0, vocab). */
function randomTokens(rows: number, length: number, vocab: number, seed: number): number[][] {
  const values = pseudoRandom(rows * length, seed);
  return Array.from({ length: rows }, (_, row) =>
    Array.from({ length }, (_, index) => Math.floor(((values[row * length + index] as number) + 1) * 0.5 * vocab) % vocab),
  );
}

/**
 * Registers vitest tests (one `describe` block) that check a {@link MemoryPolicy} against the v1 contract: declared
 * fields and a config naming its kind; life cycle (use before build, rebuild for another depth, use after dispose);
 * argument checks; read shapes and positions (before the current segment, contiguous when the view says so, never
 * below the view's `oldestPosition`, matching telemetry); soft masks in [0, 1] of a broadcastable shape; no tensor leak over 50 steps; a state round
 * trip that writes on identically and refuses another kind; dispose leaving no tensor; and, with `model`, SPEC 2.3
 * (segment by segment equals one full causal pass when the memory keeps everything) and SPEC 6 (streaming equals
 * teacher forcing). Call it at the top level of a test file.
 */
export function testMemoryPolicy(options: TestMemoryPolicyOptions): void {
  const { create } = options;
  const dimensions: ModelDimensions = {
    numLayers: 2,
    modelDim: 8,
    numHeads: 2,
    segmentLength: 3,
    ...options.dimensions,
  };
  const { numLayers, modelDim, numHeads, segmentLength } = dimensions;
  const batchSize = options.batchSize ?? 2;
  const probe = create();
  const kind = probe.kind;
  probe.dispose();
  const title = options.name ?? `MemoryPolicy conformance: ${kind}`;

  const built = (): MemoryPolicy => {
    const policy = create();
    policy.build({ ...dimensions });
    return policy;
  };

  const record = (
    policy: MemoryPolicy,
    state: MemoryState,
    { training = true, seed = state.tokensSeen + 1 }: { training?: boolean; seed?: number } = {},
  ): SegmentRecord => {
    const rows = state.batchSize;
    const start = state.tokensSeen;
    const positionValues = new Int32Array(rows * segmentLength);
    for (let row = 0; row < rows; row++) {
      for (let index = 0; index < segmentLength; index++) positionValues[row * segmentLength + index] = start + index;
    }
    const positions = tf.tensor2d(positionValues, [rows, segmentLength], 'int32');
    const layerInputs = Array.from({ length: numLayers }, (_, layer) =>
      tf.tensor3d(pseudoRandom(rows * segmentLength * modelDim, seed * 31 + layer), [rows, segmentLength, modelDim]),
    );
    const result: SegmentRecord = {
      layerInputs,
      positions,
      contentAttention: layerInputs.map(() => plainContentAttention),
      training,
    };
    if (policy.needsAttentionProbabilities) {
      result.attentionProbabilities = layerInputs.map((_, layer) =>
        tf.tidy(() => {
          const view = policy.read(state, layer);
          const keys = (view.hidden?.shape[1] ?? 0) + segmentLength;
          const logits = tf.tensor4d(pseudoRandom(rows * numHeads * segmentLength * keys, seed * 17 + layer), [
            rows,
            numHeads,
            segmentLength,
            keys,
          ]);
          return tf.softmax(tf.mul(logits, 3)) as tf.Tensor4D;
        }),
      );
    }
    return result;
  };

  const step = (policy: MemoryPolicy, state: MemoryState, segment: SegmentRecord): MemoryState => {
    const next = keepState(policy.write(state, segment));
    disposeStateExcept(state, next);
    disposeRecord(segment);
    return next;
  };

  /** What one attention call of `layer` gets from the policy: keys are `[memory view; current segment]`. */
  const modulateLayer = (
    policy: MemoryPolicy,
    state: MemoryState,
    segment: SegmentRecord,
    layer: number,
  ): { modulation: AttentionModulation; keys: number } => {
    const view = policy.read(state, layer);
    const input = segment.layerInputs[layer] as tf.Tensor3D;
    const modulation = (policy.modulate as NonNullable<MemoryPolicy['modulate']>)({
      layer,
      keyHidden: view.hidden ? tf.concat([view.hidden, input], 1) : input,
      keyPositions: view.positions ? tf.concat([view.positions, segment.positions], 1) : segment.positions,
      queryPositions: segment.positions,
      memorySlots: view.hidden?.shape[1] ?? 0,
      training: segment.training,
    });
    return { modulation, keys: (view.hidden?.shape[1] ?? 0) + segmentLength };
  };

  /** Everything the model does with a policy in one step, checking what it reads and how it modulates. */
  const fullStep = (
    policy: MemoryPolicy,
    state: MemoryState,
    training: boolean,
    seed: number,
    optimizer?: tf.Optimizer,
  ): MemoryState => {
    const segment = record(policy, state, { training, seed });
    const variables = policy.variables();
    if (optimizer && training && policy.modulate && variables.length > 0) {
      // A gradient step through modulate (soft masks and auxiliary losses), as the model's training step takes.
      optimizer.minimize(
        () => {
          const terms: tf.Scalar[] = [];
          for (let layer = 0; layer < numLayers; layer++) {
            const { modulation } = modulateLayer(policy, state, segment, layer);
            if (modulation.softMask) terms.push(tf.mul(tf.mean(modulation.softMask), 0.01) as tf.Scalar);
            if (modulation.auxiliaryLoss) terms.push(modulation.auxiliaryLoss);
          }
          return (terms.length > 0 ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
        },
        false,
        variables,
      );
    }
    tf.tidy(() => {
      for (let layer = 0; layer < numLayers; layer++) {
        if (!policy.modulate) {
          policy.read(state, layer);
          continue;
        }
        const { modulation, keys } = modulateLayer(policy, state, segment, layer);
        if (modulation.softMask) {
          const [rows, heads, queries, keyCount] = modulation.softMask.shape;
          expect([1, batchSize]).toContain(rows);
          expect([1, numHeads]).toContain(heads);
          expect([queries, keyCount]).toEqual([segmentLength, keys]);
          const values = modulation.softMask.dataSync();
          expect(values.every((value) => value >= 0 && value <= 1), 'soft mask values in [0, 1]').toBe(true);
        }
        if (modulation.auxiliaryLoss) {
          expect(modulation.auxiliaryLoss.rank).toBe(0);
          expect(Number.isFinite(modulation.auxiliaryLoss.dataSync()[0])).toBe(true);
        }
      }
      if (policy.separateLoss) {
        const loss = policy.separateLoss(state, segment);
        if (loss) expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
      }
    });
    const separateVariables = policy.separateVariables();
    if (optimizer && policy.separateLoss && separateVariables.length > 0) {
      // The separate loss trained with its own optimizer step, as the trainer does after the LM step.
      const probe = policy.separateLoss(state, segment);
      if (probe) {
        probe.dispose();
        optimizer.minimize(() => policy.separateLoss!(state, segment) as tf.Scalar, false, separateVariables);
      }
    }
    const next = step(policy, state, segment);
    policy.afterOptimizerStep?.();
    return next;
  };

  describe(title, () => {
    it('declares the v1 contract, a JSON-safe config naming its kind, and a temporal range', () => {
      const policy = create();
      try {
        expect(policy.specificationVersion).toBe('v1');
        expect(typeof policy.kind).toBe('string');
        expect(policy.kind.length).toBeGreaterThan(0);
        expect(typeof policy.needsAttentionProbabilities).toBe('boolean');
        const config = policy.config();
        expect(JSON.parse(JSON.stringify(config))).toEqual(config);
        expect(config.kind).toBe(policy.kind);
        const range = policy.temporalRange(numLayers);
        expect(Number.isFinite(range) && range >= 0).toBe(true);
        expect(policy.temporalRange(2 * numLayers)).toBeGreaterThanOrEqual(range);
      } finally {
        policy.dispose();
      }
    });

    it('refuses use before build() and after dispose(), and a rebuild for another depth', () => {
      const policy = create();
      expect(() => policy.initialState(batchSize)).toThrow(/before build/);
      policy.build({ ...dimensions });
      policy.build({ ...dimensions });
      expect(() => policy.build({ ...dimensions, numLayers: numLayers + 1 })).toThrow(/one policy per model/);
      const state = policy.initialState(batchSize);
      expect(state).toMatchObject({ tokensSeen: 0, batchSize });
      expect(state.layers).toHaveLength(numLayers);
      policy.dispose();
      expect(() => policy.initialState(batchSize)).toThrow(/after dispose/);
      expect(() => policy.dispose()).not.toThrow();
    });

    it('checks its arguments with errors that name them', () => {
      const policy = built();
      try {
        expect(() => policy.initialState(0)).toThrow(/batchSize/);
        const state = policy.initialState(batchSize);
        expect(() => policy.read(state, numLayers)).toThrow(/range|layer/);
        const segment = record(policy, state);
        expect(() => policy.write(state, { ...segment, layerInputs: segment.layerInputs.slice(1) })).toThrow(/layer/);
        disposeRecord(segment);
      } finally {
        policy.dispose();
      }
    });

    it('reads [batch, slots, modelDim] memory at positions before the current segment, contiguous when it says so, none below its oldestPosition', () => {
      const policy = built();
      let state = policy.initialState(batchSize);
      try {
        for (let index = 0; index < 8; index++) {
          state = fullStep(policy, state, index % 3 !== 2, index + 1);
          expect(state.tokensSeen).toBe((index + 1) * segmentLength);
          const slots = tf.tidy(() =>
            Array.from({ length: numLayers }, (_, layer) => {
              const view = policy.read(state, layer);
              expect(view.hidden === null).toBe(view.positions === null);
              if (!view.hidden || !view.positions) return 0;
              const count = view.hidden.shape[1];
              expect(view.hidden.dtype).toBe('float32');
              expect(view.hidden.shape).toEqual([batchSize, count, modelDim]);
              expect(view.positions.dtype).toBe('int32');
              expect(view.positions.shape).toEqual([batchSize, count]);
              const rows = view.positions.arraySync();
              for (const row of rows) {
                row.forEach((position, slot) => {
                  expect(position).toBeGreaterThanOrEqual(0);
                  expect(position).toBeLessThan(state.tokensSeen);
                  if (slot > 0) expect(position).toBeGreaterThanOrEqual(row[slot - 1] as number);
                  if (view.contiguous) expect(position).toBe(state.tokensSeen - count + slot);
                });
              }
              // A host-side oldestPosition bounds the model's query-key distances: it must not exceed any position.
              if (view.oldestPosition !== undefined && count > 0) {
                expect(Number.isSafeInteger(view.oldestPosition)).toBe(true);
                expect(view.oldestPosition).toBeLessThanOrEqual(Math.min(...rows.flat()));
              }
              return count;
            }),
          );
          expect(policy.telemetry(state).memorySlots).toEqual(slots);
        }
      } finally {
        disposeState(state);
        policy.dispose();
      }
    });

    it('does not leak tensors over 50 steps (read, modulate, a gradient step, separate loss, write, telemetry, state I/O)', () => {
      const policy = built();
      const optimizer = tf.train.sgd(0.01);
      const before = tf.memory().numTensors;
      let state = policy.initialState(batchSize);
      for (let index = 0; index < 50; index++) {
        state = fullStep(policy, state, index % 5 !== 4, index + 1, optimizer);
        policy.telemetry(state);
      }
      const serialized = policy.serializeState(state);
      const restored = policy.deserializeState(serialized);
      tf.dispose(Object.values(serialized.tensors));
      disposeState(restored);
      disposeState(state);
      expect(tf.memory().numTensors - before, 'tensors left behind').toBe(0);
      optimizer.dispose();
      policy.dispose();
    });

    it('round-trips its state: same tensors, writes on identically, refuses another kind', () => {
      const policy = built();
      let state = policy.initialState(batchSize);
      try {
        for (let index = 0; index < 6; index++) state = fullStep(policy, state, true, index + 1);
        const serialized = policy.serializeState(state);
        expect(serialized.meta.kind).toBe(kind);
        expect(JSON.parse(JSON.stringify(serialized.meta))).toEqual(serialized.meta);
        const restored = policy.deserializeState(serialized);
        expect(() => policy.deserializeState({ ...serialized, meta: { ...serialized.meta, kind: `not-${kind}` } })).toThrow(/kind/);
        tf.dispose(Object.values(serialized.tensors));
        expect(restored.tokensSeen).toBe(state.tokensSeen);
        expect(restored.batchSize).toBe(state.batchSize);
        const contents = (value: MemoryState) =>
          value.layers.map((layer) => ({
            hidden: layer.hidden?.arraySync() ?? null,
            positions: layer.positions?.arraySync() ?? null,
            extra: Object.fromEntries(Object.entries(layer.extra).map(([name, tensor]) => [name, tensor.arraySync()])),
          }));
        expect(contents(restored)).toEqual(contents(state));
        for (let layer = 0; layer < numLayers; layer++) {
          expect(tf.tidy(() => policy.read(restored, layer).contiguous)).toBe(tf.tidy(() => policy.read(state, layer).contiguous));
        }
        const a = step(policy, state, record(policy, state, { seed: 99 }));
        const b = step(policy, restored, record(policy, restored, { seed: 99 }));
        state = a;
        expect(contents(b)).toEqual(contents(a));
        disposeState(b);
      } finally {
        disposeState(state);
        policy.dispose();
      }
    });

    it('dispose() leaves no tensor behind', () => {
      const before = tf.memory().numTensors;
      const policy = built();
      let state = policy.initialState(batchSize);
      for (let index = 0; index < 5; index++) state = fullStep(policy, state, true, index + 1);
      const variables = [...policy.variables(), ...policy.separateVariables()];
      expect(stateTensors(state).every((tensor) => !tensor.isDisposed)).toBe(true);
      disposeState(state);
      policy.dispose();
      expect(variables.every((variable) => variable.isDisposed)).toBe(true);
      expect(tf.memory().numTensors - before, 'tensors left behind').toBe(0);
    });

    const model = options.model;
    if (model) {
      const config: ConformanceModelConfig = {
        vocabSize: 11,
        modelDim,
        numHeads,
        numLayers,
        feedForwardDim: 2 * modelDim,
        segmentLength,
        seed: 5,
        initStandardDeviation: 0.3,
      };
      const segments = 4;
      const forwardAll = (instance: ConformanceModel, tokens: number[][], length: number): number[] => {
        let state = instance.initialState(tokens.length);
        const logits: number[][][][] = [];
        for (let start = 0; start < tokens[0]!.length; start += length) {
          const inputs = tf.tensor2d(tokens.map((row) => row.slice(start, start + length)), undefined, 'int32');
          const result = instance.forward(inputs, state);
          logits.push(result.logits.arraySync() as number[][][]);
          result.logits.dispose();
          inputs.dispose();
          state = result.state;
        }
        disposeState(state);
        // Row-major over [row, time, vocab], whatever the segmentation.
        return tokens.flatMap((_, row) => logits.flatMap((piece) => (piece[row] as number[][]).flat()));
      };

      if (model.keepEverything) {
        const keepEverything = model.keepEverything;
        it('SPEC 2.3: keeping everything, segment by segment equals one full causal pass', () => {
          const before = tf.memory().numTensors;
          const instance = model.createModel(config, { policy: keepEverything() });
          const tokens = randomTokens(batchSize, segments * segmentLength, config.vocabSize, 13);
          const full = forwardAll(instance, tokens, segments * segmentLength);
          const segmented = forwardAll(instance, tokens, segmentLength);
          expect(maxDifference(segmented, full)).toBeLessThan(1e-4);
          instance.dispose();
          expect(tf.memory().numTensors - before, 'tensors left behind').toBe(0);
        });
      }

      if (model.streaming ?? true) {
        it('SPEC 6: token-by-token streaming equals teacher forcing', () => {
          const before = tf.memory().numTensors;
          const instance = model.createModel(config, { policy: create() });
          const tokens = randomTokens(1, (segments + 2) * segmentLength, config.vocabSize, 17);
          const teacher = forwardAll(instance, tokens, segmentLength);
          expect(maxDifference(streamLogits(instance, tokens[0] as number[]), teacher)).toBeLessThan(1e-4);
          instance.dispose();
          expect(tf.memory().numTensors - before, 'tensors left behind').toBe(0);
        });
      }
    }

    options.additionalTests?.({ create, dimensions, batchSize, record, step });
  });
}

/**
 * Registers vitest tests that check a policy descriptor against its policy: the kind, defaults the schema fills
 * in, `create` and `fromSavedConfig(policy.config())` giving the same policy, and `temporalRange` equal to the
 * live policy's for 1 to 4 layers. `input` is a configuration's options (before defaults).
 */
export function testMemoryPolicyDescriptor(
  descriptor: MemoryPolicyDescriptor,
  input: Record<string, unknown>,
  options: { name?: string } = {},
): void {
  describe(options.name ?? `MemoryPolicyDescriptor conformance: ${descriptor.kind}`, () => {
    it('fills in its defaults and refuses unknown options', () => {
      const parsed = descriptor.optionsSchema.parse(input) as Record<string, unknown>;
      for (const [name, value] of Object.entries(descriptor.defaults)) {
        if (!(name in input)) expect(parsed[name], `default of ${name}`).toEqual(value);
      }
      for (const name of Object.keys(input)) expect(descriptor.optionNames).toContain(name);
      expect(descriptor.optionsSchema.safeParse({ ...input, notAnOption: 1 }).success).toBe(false);
    });

    it('creates its kind, recreates it from the saved config, and reports the live temporal range', () => {
      const parsed = descriptor.optionsSchema.parse(input);
      const policy = descriptor.create(parsed, { seed: 3 });
      const again = descriptor.fromSavedConfig(JSON.parse(JSON.stringify(policy.config())));
      try {
        expect(policy.kind).toBe(descriptor.kind);
        expect(again.kind).toBe(descriptor.kind);
        expect(again.config()).toEqual(policy.config());
        for (let layers = 1; layers <= 4; layers++) {
          expect(descriptor.temporalRange(parsed, layers)).toBe(policy.temporalRange(layers));
          expect(again.temporalRange(layers)).toBe(policy.temporalRange(layers));
        }
        const unroll = descriptor.unroll(parsed);
        expect(Number.isInteger(unroll) && unroll >= 1).toBe(true);
      } finally {
        policy.dispose();
        again.dispose();
      }
    });
  });
}
