// Tests of training: finite-difference gradients, unrolled (BPTT) steps, non-finite handling, leaks, learning, a custom policy.
import * as tf from '@tensorflow/tfjs';
import { uniqueScope } from '@engram/attention';
import { expectClose } from '@engram/kernels/testing';
import {
  appendToMemory,
  createFifoPolicy,
  deserializeLayers,
  disposeState,
  emptyLayerMemory,
  serializeLayers,
  type MemoryPolicy,
  type MemoryState,
} from '@engram/memory';
import { describe, expect, test } from 'vitest';
import { createRandom } from '@engram/attention';
import { createAdam, createModel, type Batch, type MemoryTransformer } from './model.js';
import { columns, randomTokens, tinyConfig } from './test-helpers.js';

function snapshot(model: MemoryTransformer): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(model.namedVariables()).map(([name, v]) => [name, v.dataSync().slice() as Float32Array]));
}

function restore(model: MemoryTransformer, values: Record<string, Float32Array>): void {
  for (const [name, variable] of Object.entries(model.namedVariables())) {
    tf.tidy(() => variable.assign(tf.tensor(values[name] as Float32Array, variable.shape)));
  }
}

function difference(a: Record<string, Float32Array>, b: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.keys(a).map((name) => [name, (a[name] as Float32Array).map((x, i) => x - (b[name] as Float32Array)[i]!)]));
}

function batchOf(tokens: number[][], start: number, length: number): Batch {
  return { inputs: columns(tokens, start, start + length), targets: columns(tokens, start + 1, start + length + 1) };
}

function disposeBatch(batch: Batch): void {
  tf.dispose([batch.inputs, batch.targets, ...(batch.mask ? [batch.mask] : [])]);
}

describe('gradients', () => {
  test('finite differences agree with the trainStep gradient (loss of a segment read through memory)', () => {
    const model = createModel(
      // GELU keeps the loss smooth: a ReLU kink within epsilon of a pre-activation spoils finite differences.
      tinyConfig({ vocabSize: 7, modelDim: 8, numHeads: 2, feedForwardDim: 12, segmentLength: 3, initStandardDeviation: 0.5, clampLength: 4, activation: 'gelu' }),
    );
    const tokens = randomTokens(2, 7, 7, 13);
    const first = columns(tokens, 0, 3);
    const warm = model.forward(first, model.initialState(2));
    warm.logits.dispose();
    first.dispose();
    const memory = model.policy.serializeState(warm.state);
    disposeState(warm.state);
    const segment = batchOf(tokens, 3, 3);
    const lossAt = (): number => {
      const result = model.evaluate(segment.inputs, segment.targets, model.policy.deserializeState(memory));
      disposeState(result.state);
      return result.nllSum / result.count;
    };
    const initial = snapshot(model);
    const step = model.trainStep(segment, model.policy.deserializeState(memory), { optimizer: tf.train.sgd(1) });
    disposeState(step.state);
    expect(step.applied).toBe(true);
    const gradient = difference(initial, snapshot(model)); // SGD with learning rate 1: w_before - w_after = g
    restore(model, initial);
    expect(step.taskLoss).toBeCloseTo(lossAt(), 5);
    const random = createRandom(3);
    const epsilon = 5e-3;
    const names = [
      'embedding.weight',
      'attention.u_bias',
      'attention.v_bias',
      'layers.0.attention.query.weight',
      'layers.0.attention.position.weight',
      'layers.0.attention_norm.weight',
      'layers.1.attention.key.weight',
      'layers.1.attention.value.weight',
      'layers.1.feed_forward.inner.bias',
      'layers.1.feed_forward.outer.weight',
      'final_norm.bias',
      'output.weight',
      'output.bias',
    ];
    const named = model.namedVariables();
    for (const name of names) {
      const analytic = gradient[name] as Float32Array;
      const largest = analytic.reduce((best, value, index) => (Math.abs(value) > Math.abs(analytic[best]!) ? index : best), 0);
      expect(Math.abs(analytic[largest]!)).toBeGreaterThan(1e-4);
      for (const element of [largest, Math.floor(random() * analytic.length), Math.floor(random() * analytic.length)]) {
        const values = (initial[name] as Float32Array).slice();
        const variable = named[name] as tf.Variable;
        const evaluateAt = (value: number): number => {
          values[element] = value;
          tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
          return lossAt();
        };
        const original = (initial[name] as Float32Array)[element]!;
        const numeric = (evaluateAt(original + epsilon) - evaluateAt(original - epsilon)) / (2 * epsilon);
        evaluateAt(original);
        expect(Math.abs(analytic[element]! - numeric), `${name}[${element}]: analytic ${analytic[element]}, numeric ${numeric}`).toBeLessThan(
          5e-4 + 1e-2 * Math.abs(numeric),
        );
      }
    }
    tf.dispose(Object.values(memory.tensors));
    disposeBatch(segment);
    model.dispose();
  });
});

describe('trainStep', () => {
  test('an array of batches is unrolled in one step: loss and gradient are the mean over segments, memory advances', () => {
    const model = createModel(tinyConfig({ segmentLength: 3 }));
    const tokens = randomTokens(2, 7, 11, 21);
    const b1 = batchOf(tokens, 0, 3);
    const b2 = batchOf(tokens, 3, 3);
    const initial = snapshot(model);
    const unrolled = model.trainStep([b1, b2], model.initialState(2), { optimizer: tf.train.sgd(1) });
    const unrolledDelta = difference(initial, snapshot(model));
    restore(model, initial);
    const one = model.trainStep(b1, model.initialState(2), { optimizer: tf.train.sgd(1) });
    const delta1 = difference(initial, snapshot(model));
    restore(model, initial);
    const two = model.trainStep(b2, one.state, { optimizer: tf.train.sgd(1) });
    const delta2 = difference(initial, snapshot(model));
    restore(model, initial);
    expect(unrolled.state.tokensSeen).toBe(6);
    expect(unrolled.taskLoss).toBeCloseTo((one.taskLoss + two.taskLoss) / 2, 5);
    for (const name of Object.keys(initial)) {
      const mean = (delta1[name] as Float32Array).map((x, i) => (x + delta2[name]![i]!) / 2);
      expectClose(unrolledDelta[name] as Float32Array, mean, { atol: 2e-6, rtol: 1e-4, message: name });
    }
    expectClose(unrolled.state.layers[1]!.hidden!, two.state.layers[1]!.hidden!, { atol: 1e-6, rtol: 1e-6 });
    disposeState(unrolled.state);
    disposeState(two.state);
    [b1, b2].forEach(disposeBatch);
    model.dispose();
  });

  test('mask: only counted positions enter the loss', () => {
    const model = createModel(tinyConfig());
    const tokens = randomTokens(1, 5, 11, 2);
    const batch = { ...batchOf(tokens, 0, 4), mask: tf.tensor2d([[0, 1, 1, 0]]) };
    const evaluated = model.evaluate(batch.inputs, batch.targets, model.initialState(1), { mask: batch.mask });
    const step = model.trainStep(batch, model.initialState(1), { optimizer: tf.train.sgd(0) });
    expect(step.taskLoss).toBeCloseTo(evaluated.nllSum / evaluated.count, 5);
    expect(evaluated.count).toBe(2);
    disposeState(evaluated.state);
    disposeState(step.state);
    disposeBatch(batch);
    model.dispose();
  });

  test('non-finite loss: no update, applied false, memory still advances; clipping reports the pre-clip norm', () => {
    const model = createModel(tinyConfig());
    const tokens = randomTokens(1, 5, 11, 4);
    const batch = batchOf(tokens, 0, 4);
    const optimizer = createAdam({ learningRate: 1e-2 });
    const clipped = model.trainStep(batch, model.initialState(1), { optimizer }, { clipNorm: 1e-3 });
    expect(clipped.applied).toBe(true);
    expect(clipped.gradientNorm).toBeGreaterThan(1e-3);
    disposeState(clipped.state);
    const bias = model.namedVariables()['output.bias'] as tf.Variable;
    tf.tidy(() => bias.assign(tf.fill(bias.shape, Number.NaN)));
    const before = snapshot(model);
    const result = model.trainStep(batch, model.initialState(1), { optimizer }, { clipNorm: 1 });
    expect(result.applied).toBe(false);
    expect(Number.isNaN(result.loss)).toBe(true);
    expect(result.state.tokensSeen).toBe(4);
    const after = snapshot(model);
    expect(after['embedding.weight']).toEqual(before['embedding.weight']);
    disposeState(result.state);
    disposeBatch(batch);
    model.dispose();
  });

  test('no tensor leak over 50 training steps with memory (single and unrolled steps, clipping)', () => {
    const model = createModel(tinyConfig({ segmentLength: 4 }), { policy: createFifoPolicy({ memoryLength: 6 }) });
    const optimizer = createAdam({ learningRate: 1e-3 });
    const tokens = randomTokens(2, 4 * 115 + 1, 11, 8);
    let state = model.initialState(2);
    let cursor = 0;
    const run = (): void => {
      const unroll = cursor % 5 === 0 ? 2 : 1;
      const batches = Array.from({ length: unroll }, (_, k) => batchOf(tokens, 4 * (cursor + k), 4));
      const result = model.trainStep(unroll === 1 ? batches[0]! : batches, state, { optimizer }, { clipNorm: cursor % 2 ? 0.5 : 0 });
      state = result.state;
      batches.forEach(disposeBatch);
      cursor += unroll;
    };
    run(); // creates the optimizer's slots
    run(); // memory reaches its full length
    const before = tf.memory().numTensors;
    for (let step = 0; step < 50; step++) run();
    expect(tf.memory().numTensors).toBe(before);
    disposeState(state);
    model.dispose();
    optimizer.dispose();
  });

  test('a tiny model learns a short repeated text to near-zero loss', () => {
    const text = 'hello world, hello memory. ';
    const alphabet = [...new Set(text)];
    const stream = Array.from(text.repeat(40), (char) => alphabet.indexOf(char));
    const segmentLength = 8;
    const rows = 2;
    const rowLength = Math.floor((stream.length - 1) / rows);
    const tokens = [0, 1].map((row) => stream.slice(row * rowLength, row * rowLength + rowLength + 1));
    const model = createModel({
      vocabSize: alphabet.length,
      modelDim: 32,
      numHeads: 2,
      numLayers: 2,
      feedForwardDim: 64,
      segmentLength,
      seed: 3,
    });
    const optimizer = createAdam({ learningRate: 1e-2 });
    let state = model.initialState(rows);
    const losses: number[] = [];
    let start = 0;
    for (let step = 0; step < 400; step++) {
      if (start + segmentLength + 1 > rowLength) {
        start = 0;
        disposeState(state);
        state = model.initialState(rows);
      }
      const batch = batchOf(tokens, start, segmentLength);
      const result = model.trainStep(batch, state, { optimizer }, { clipNorm: 1 });
      disposeBatch(batch);
      state = result.state;
      losses.push(result.taskLoss);
      start += segmentLength;
      const recent = losses.slice(-10);
      if (recent.length === 10 && recent.reduce((a, b) => a + b, 0) / 10 < 0.02) break;
    }
    disposeState(state);
    const recent = losses.slice(-10);
    expect(losses[0]).toBeGreaterThan(2);
    expect(recent.reduce((a, b) => a + b, 0) / recent.length).toBeLessThan(0.05);
    model.dispose();
    optimizer.dispose();
  });
});

/**
 * A toy policy written against the contract only: FIFO memory of 4 slots read through the gather
 * path, a learned gate on memory keys (soft mask, auxiliary loss), and a separately trained probe.
 */
function createGatedPolicy(): MemoryPolicy & { calls: string[]; gate(): tf.Variable; probe(): tf.Variable } {
  let numLayers = 0;
  let gate: tf.Variable | null = null;
  let probe: tf.Variable | null = null;
  const calls: string[] = [];
  return {
    specificationVersion: 'v1',
    kind: 'gated',
    needsAttentionProbabilities: true,
    calls,
    gate: () => gate as tf.Variable,
    probe: () => probe as tf.Variable,
    build(dimensions) {
      numLayers = dimensions.numLayers;
      const scope = uniqueScope('gated');
      // tidy disposes the initial values (a variable survives tidy).
      gate = tf.tidy(() => tf.variable(tf.scalar(0.5), true, `${scope}/gate`));
      probe = tf.tidy(() => tf.variable(tf.zeros([dimensions.modelDim]), true, `${scope}/probe`));
    },
    initialState: (batchSize) => ({ layers: Array.from({ length: numLayers }, emptyLayerMemory), tokensSeen: 0, batchSize }),
    read: (state, layer) => ({ hidden: state.layers[layer]!.hidden, positions: state.layers[layer]!.positions, contiguous: false }),
    modulate(context) {
      calls.push('modulate');
      const queries = context.queryPositions.shape[1];
      const memoryMask = tf.mul(tf.ones([context.memorySlots]), tf.sigmoid(gate as tf.Variable));
      const softMask = tf.reshape(tf.concat([memoryMask, tf.ones([queries])]), [1, 1, 1, context.memorySlots + queries]) as tf.Tensor4D;
      return { softMask, auxiliaryLoss: tf.mul(tf.square(gate as tf.Variable), 0.01) as tf.Scalar };
    },
    write(state, record) {
      calls.push(`write ${record.attentionProbabilities?.map((p) => p.shape.join('x')).join(',')}`);
      const layers = state.layers.map((memory, layer) => {
        const appended = appendToMemory(memory.hidden, memory.positions, record.layerInputs[layer]!, record.positions, 4);
        if (appended.evicted) tf.dispose([appended.evicted.hidden, appended.evicted.positions]);
        return { hidden: appended.hidden, positions: appended.positions, extra: {} };
      });
      return { layers, tokensSeen: state.tokensSeen + record.positions.shape[1], batchSize: state.batchSize };
    },
    variables: () => [gate as tf.Variable],
    separateVariables: () => [probe as tf.Variable],
    separateLoss(_state, record) {
      calls.push('separateLoss');
      const input = record.layerInputs[0]!;
      const attended = record.contentAttention[0]!(input, input);
      const target = tf.mean(attended, [0, 1]);
      return tf.mean(tf.square(tf.sub(probe as tf.Variable, target))) as tf.Scalar;
    },
    afterOptimizerStep() {
      calls.push('after');
    },
    temporalRange: (layers) => 4 * layers,
    telemetry: (state) => ({ memorySlots: state.layers.map((memory) => memory.hidden?.shape[1] ?? 0), perLayer: {} }),
    config: () => ({ kind: 'gated' }),
    serializeState: (state) => serializeLayers(state, { kind: 'gated' }),
    deserializeState: (serialized) => deserializeLayers(serialized, { kind: 'gated', numLayers }),
    dispose() {
      gate?.dispose();
      probe?.dispose();
    },
  };
}

describe('a custom MemoryPolicy plugs into the model', () => {
  test('read / modulate / write / separateLoss / afterOptimizerStep run in order and train the right variables', () => {
    const policy = createGatedPolicy();
    const model = createModel(tinyConfig({ segmentLength: 3 }), { policy });
    expect(Object.keys(model.namedVariables())).toEqual(expect.arrayContaining(['policy.gate', 'policy.probe']));
    expect(model.temporalRange()).toBe(8);
    const tokens = randomTokens(2, 10, 11, 6);
    let state = model.initialState(2);
    const warm = batchOf(tokens, 0, 3);
    state = model.trainStep(warm, state, { optimizer: tf.train.sgd(0), separateOptimizer: tf.train.sgd(0) }).state;
    disposeBatch(warm);
    policy.calls.length = 0;

    // LM step only (separate learning rate 0): the gate moves, the probe does not.
    const before = snapshot(model);
    const batch = batchOf(tokens, 3, 3);
    const result = model.trainStep(batch, state, { optimizer: tf.train.sgd(1), separateOptimizer: tf.train.sgd(0) });
    state = result.state;
    const moved = difference(before, snapshot(model));
    expect(Math.abs(moved['policy.gate']![0]!)).toBeGreaterThan(0);
    expect(Array.from(moved['policy.probe']!)).toEqual(new Array(16).fill(0));
    expect(result.auxiliaryLoss).toBeCloseTo(2 * 0.01 * 0.25, 6);
    expect(result.separateLoss).toBeGreaterThan(0);
    // Memory of 3 slots + 3 current keys; probabilities [B, H, T, K] reach write.
    expect(policy.calls).toEqual(['modulate', 'modulate', 'separateLoss', 'write 2x2x3x6,2x2x3x6', 'after']);

    // Separate step only: the probe moves, nothing the LM trains does.
    const before2 = snapshot(model);
    const batch2 = batchOf(tokens, 6, 3);
    const result2 = model.trainStep(batch2, state, { optimizer: tf.train.sgd(0), separateOptimizer: tf.train.sgd(1) });
    state = result2.state;
    const moved2 = difference(before2, snapshot(model));
    for (const [name, delta] of Object.entries(moved2)) {
      if (name === 'policy.probe') expect(Math.max(...Array.from(delta, Math.abs))).toBeGreaterThan(0);
      else expect(Math.max(...Array.from(delta, Math.abs)), name).toBe(0);
    }
    disposeState(result2.state);
    [batch, batch2].forEach(disposeBatch);
    model.dispose();
    expect(policy.gate().isDisposed).toBe(true);
  });

  test('a policy with a separate loss needs a separate optimizer: a clear error, nothing consumed, no leak', () => {
    const tokens = randomTokens(2, 10, 11, 12);
    const batch = batchOf(tokens, 0, 3);
    const optimizer = createAdam({ learningRate: 1e-2 });
    const policy = createGatedPolicy();
    const model = createModel(tinyConfig({ segmentLength: 3 }), { policy });
    const state = model.initialState(2);
    const start = tf.memory().numTensors;
    expect(() => model.trainStep(batch, state, { optimizer })).toThrow(/gated policy trains 1 separate variables .*pass optimizers\.separateOptimizer/);
    expect(tf.memory().numTensors).toBe(start);
    const result = model.trainStep(batch, state, { optimizer, separateOptimizer: createAdam({ learningRate: 1e-2 }) });
    expect(result.separateLoss).not.toBeNull();
    disposeState(result.state);
    optimizer.dispose();
    model.dispose();
    disposeBatch(batch);
  });

  test('the soft mask changes attention: gated memory differs from plain FIFO with the same weights', () => {
    const tokens = randomTokens(1, 6, 11, 10);
    const logitsWith = (policy: MemoryPolicy): number[] => {
      const model = createModel(tinyConfig({ segmentLength: 3 }), { policy });
      let state: MemoryState = model.initialState(1);
      const first = columns(tokens, 0, 3);
      const second = columns(tokens, 3, 6);
      const a = model.forward(first, state);
      const b = model.forward(second, a.state);
      const values = Array.from(b.logits.dataSync());
      tf.dispose([a.logits, b.logits, first, second]);
      state = b.state;
      disposeState(state);
      model.dispose();
      return values;
    };
    const gated = logitsWith(createGatedPolicy());
    const fifo = logitsWith(createFifoPolicy({ memoryLength: 4 }));
    expect(gated.every(Number.isFinite)).toBe(true);
    expect(() => expectClose(gated, fifo, { atol: 1e-4, rtol: 1e-4 })).toThrow();
  });
});

describe('recomputeBlocks (gradient checkpointing)', () => {
  for (const norm of ['pre', 'post'] as const) {
    test(`same losses, gradient norms and updated weights as the plain step (${norm}-norm, dropout, two unrolled segments, memory); no leak`, () => {
      const config = tinyConfig({ norm, dropout: 0.2, attentionDropout: 0.3, segmentLength: 3 });
      const plain = createModel(config);
      const recomputed = createModel({ ...config, recomputeBlocks: true });
      expect(recomputed.config.recomputeBlocks).toBe(true);
      const tokens = randomTokens(2, 19, config.vocabSize, 5);
      const optimizers = [createAdam({ learningRate: 1e-2 }), createAdam({ learningRate: 1e-2 })];
      const states = [plain.initialState(2), recomputed.initialState(2)];
      let afterFirstStep = 0;
      for (let step = 0; step < 3; step++) {
        const batches = [batchOf(tokens, 6 * step, 3), batchOf(tokens, 6 * step + 3, 3)];
        const results = [plain, recomputed].map((model, index) =>
          model.trainStep(batches, states[index] as MemoryState, { optimizer: optimizers[index] as tf.Optimizer }, { clipNorm: 0.5 }),
        );
        const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
        expect(b.loss).toBeCloseTo(a.loss, 6);
        expect(b.gradientNorm).toBeCloseTo(a.gradientNorm, 5);
        states[0] = a.state;
        states[1] = b.state;
        batches.forEach(disposeBatch);
        // From the first step on, the optimizer slots exist and each step swaps one memory state for another.
        if (step === 0) afterFirstStep = tf.memory().numTensors;
      }
      expect(tf.memory().numTensors).toBe(afterFirstStep);
      const weightsA = snapshot(plain);
      const weightsB = snapshot(recomputed);
      for (const name of Object.keys(weightsA)) expectClose(weightsB[name] as Float32Array, weightsA[name] as Float32Array, { atol: 1e-6, rtol: 1e-5 });
      expect(recomputed.getRandomState()).toEqual(plain.getRandomState());
      states.forEach((state) => disposeState(state));
      optimizers.forEach((optimizer) => optimizer.dispose());
      plain.dispose();
      recomputed.dispose();
    });
  }
});
