// Tests of the Expire-Span MemoryPolicy at the policy level (SPEC 4): the conformance suite, build, modulate, noise, pruning, state, telemetry.
import * as tf from '@tensorflow/tfjs';
import { maskedSoftmax } from '@engram/kernels';
import { expectClose } from '@engram/kernels/testing';
import { disposeState, disposeStateExcept } from '@engram/memory';
import type { MemoryState } from '@engram/memory';
import { builtPoliciesEachTest, expectOptionErrors, testMemoryPolicy, testMemoryPolicyDescriptor, writeSegment } from '@engram/memory/testing';
import { expireSpanPolicyDescriptor } from './descriptor.js';
import { createModel } from '@engram/model';
import { describe, expect, test } from 'vitest';
import { ExpireSpanOptionError, ExpireSpanUsageError } from './errors.js';
import { createExpireSpanPolicy } from './policy.js';
import type { ExpireSpanOptions, ExpireSpanPolicy } from './policy.js';
import { expireSpanAuxiliaryLoss, expireSpanMask, queryKeyDistances } from './spans.js';

testMemoryPolicy({
  create: () => createExpireSpanPolicy({ maxSpan: 6, ramp: 2, alpha: 0.01, noise: true, seed: 1, maxMemory: 12 }),
  // Pruning is lossless, so the pruned memory keeps everything attention can still see.
  model: { createModel, keepEverything: () => createExpireSpanPolicy({ maxSpan: 6, ramp: 2 }) },
});
testMemoryPolicy({
  create: () => createExpireSpanPolicy({ maxSpan: 5, ramp: 1, prune: false }),
  name: 'MemoryPolicy conformance: expire-span without pruning',
});

testMemoryPolicyDescriptor(expireSpanPolicyDescriptor, { maxSpan: 64, ramp: 5 });
testMemoryPolicyDescriptor(expireSpanPolicyDescriptor, { maxSpan: 64, ramp: 5, maxMemory: 20, noise: true }, { name: 'expire-span descriptor with a memory cap' });

/** A policy (maxSpan 4, ramp 1 unless `options` say otherwise) built for 1 layer of width 4, 2 heads, segments of 2 (or `dimensions`); disposed after the test. */
const makePolicy = builtPoliciesEachTest(
  (options: Partial<ExpireSpanOptions> = {}) => createExpireSpanPolicy({ maxSpan: 4, ramp: 1, ...options }),
  { numLayers: 1, modelDim: 4, numHeads: 2, segmentLength: 2 },
);

/** Writes one segment and disposes what the old state held and the new one does not (as the model does), and the inputs. */
const step = (policy: ExpireSpanPolicy, state: MemoryState, inputs: tf.Tensor3D[]): MemoryState =>
  writeSegment(policy, state, inputs, { disposeInputs: true });

/**
 * Layer inputs whose first feature decides the span under the predictor weight [20, 0, 0, 0], bias 0 and
 * maxSpan 4: +1 gives a span of ~4 (long-lived), -1 a span of ~0 (expires at once).
 */
function controlled(rows: number[][], width = 4): tf.Tensor3D {
  return tf.tensor3d(
    rows.map((row) => row.map((sign) => Array.from({ length: width }, (_, k) => (k === 0 ? sign : 0.1 * k)))),
  );
}

/** Counts host reads (`dataSync`) of every tensor until `restore()`. */
function countReads(): { count: () => number; restore: () => void } {
  const prototype = tf.Tensor.prototype as unknown as { dataSync: () => unknown };
  const original = prototype.dataSync;
  let reads = 0;
  prototype.dataSync = function (this: tf.Tensor) {
    reads++;
    return original.call(this);
  };
  return { count: () => reads, restore: () => void (prototype.dataSync = original) };
}

function setPredictor(policy: ExpireSpanPolicy, layer: number, weight: number[], bias: number): void {
  const predictor = policy.spanPredictor(layer);
  tf.tidy(() => {
    predictor.weight.assign(tf.tensor1d(weight));
    predictor.bias.assign(tf.scalar(bias));
  });
}

describe('createExpireSpanPolicy options', () => {
  test('rejects bad options with a message naming the option', () => {
    const bad: [Partial<ExpireSpanOptions>, string, string?][] = [
      [{ maxSpan: 0 }, 'maxSpan'],
      [{ ramp: -1 }, 'ramp', 'createExpireSpanPolicy: option "ramp" must be a finite number > 0, got -1.'],
      [{ alpha: -1 }, 'alpha', 'createExpireSpanPolicy: option "alpha" must be a finite number >= 0, got -1.'],
      [{ initFraction: 1 }, 'initFraction'],
      [{ preDiv: 0 }, 'preDiv'],
      [{ maxMemory: 0 }, 'maxMemory'],
      [{ maxMemory: 2.5 }, 'maxMemory'],
      [{ seed: 0.5 }, 'seed'],
      [{ kind: 'fifo' }, 'kind', `createExpireSpanPolicy: option "kind" must be "expire-span" (or absent), got "fifo". This config was saved by another policy; recreate it with that policy's factory.`],
    ];
    expectOptionErrors((options) => createExpireSpanPolicy({ maxSpan: 4, ramp: 1, ...options }), ExpireSpanOptionError, bad);
    const notAnObject = 'createExpireSpanPolicy: option "options" must be an object such as { maxSpan: 1024, ramp: 32 }, got undefined.';
    expectOptionErrors(createExpireSpanPolicy, ExpireSpanOptionError, [[undefined as unknown as ExpireSpanOptions, 'options', notAnObject]]);
  });

  test('config() recreates the same policy', () => {
    const policy = createExpireSpanPolicy({ maxSpan: 64, ramp: 8, alpha: 2e-6, preDiv: 64, noise: true, maxMemory: 100, seed: 3 });
    const config = policy.config();
    expect(config).toEqual({
      kind: 'expire-span',
      maxSpan: 64,
      ramp: 8,
      alpha: 2e-6,
      initFraction: 0.1,
      preDiv: 64,
      noise: true,
      prune: true,
      maxMemory: 100,
      seed: 3,
    });
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
    expect(createExpireSpanPolicy(config as unknown as ExpireSpanOptions).config()).toEqual(config);
  });

  test('temporal range is L * (ceil(Lmax + R) - 1), capped per layer by maxMemory', () => {
    expect(createExpireSpanPolicy({ maxSpan: 100, ramp: 8 }).temporalRange(3)).toBe(3 * 107);
    expect(createExpireSpanPolicy({ maxSpan: 100, ramp: 8, maxMemory: 50 }).temporalRange(3)).toBe(150);
    expect(createExpireSpanPolicy({ maxSpan: 10.5, ramp: 2 }).temporalRange(1)).toBe(12);
  });
});

describe('build and variables', () => {
  test('one predictor per layer: weight 0 and bias logit(initFraction), with unique names', () => {
    const first = makePolicy({ initFraction: 0.25 }, { numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 2 });
    const second = makePolicy({}, { numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 2 });
    expect(first.kind).toBe('expire-span');
    expect(first.variables()).toHaveLength(4);
    expect(first.separateVariables()).toEqual([]);
    expectClose(first.spanPredictor(1).weight, [0, 0, 0]);
    expectClose(first.spanPredictor(1).bias, Math.log(0.25 / 0.75), { atol: 1e-6 });
    const names = [...first.variables(), ...second.variables()].map((variable) => variable.name);
    expect(new Set(names).size).toBe(8);
    const hidden = tf.randomNormal([2, 5, 3]) as tf.Tensor3D;
    const spans = first.predictSpans(0, hidden);
    expectClose(spans, tf.fill([2, 5], 1), { atol: 1e-5 });
    tf.dispose([hidden, spans]);
  });

  test('throws its own error class for a wrong layer and for misuse', () => {
    const policy = createExpireSpanPolicy({ maxSpan: 4, ramp: 1 });
    expect(() => policy.initialState(1)).toThrow(ExpireSpanUsageError);
    policy.build({ numLayers: 1, modelDim: 4, numHeads: 1, segmentLength: 2 });
    expect(() => policy.spanPredictor(3)).toThrow(ExpireSpanUsageError);
    expect(() => policy.build({ numLayers: 1, modelDim: 5, numHeads: 1, segmentLength: 2 })).toThrow(/Create one policy per model/);
    policy.dispose();
    expect(() => policy.spanPredictor(0)).toThrow(/after dispose/);
  });
});

describe('modulate', () => {
  test('returns the SPEC 4 soft mask [B, 1, T, K] and span loss of the predicted spans', () => {
    const policy = makePolicy({ maxSpan: 6, ramp: 2, alpha: 0.5 }, { numLayers: 2, modelDim: 3, numHeads: 2, segmentLength: 2 });
    setPredictor(policy, 1, [0.5, -1, 0.25], -0.2);
    const keyHidden = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 7) as tf.Tensor3D;
    const keyPositions = tf.tensor2d([[0, 2, 3, 4, 5], [1, 2, 3, 4, 5]], undefined, 'int32');
    const queryPositions = tf.tensor2d([[4, 5], [4, 5]], undefined, 'int32');
    const context = { layer: 1, keyHidden, keyPositions, queryPositions, memorySlots: 3, training: true };
    const result = policy.modulate?.(context);
    expect(result?.softMask?.shape).toEqual([2, 1, 2, 5]);
    // Position tensors of the wrong shape: the package's usage error, naming the policy and the shape it needs.
    expect(() => policy.modulate?.({ ...context, keyPositions: keyHidden as unknown as tf.Tensor2D })).toThrow(
      expect.objectContaining({ constructor: ExpireSpanUsageError, message: 'expire-span policy: modulate: keyPositions must be [2, 5] to match keyHidden, got [2, 5, 3].' }),
    );
    const oneRow = tf.tensor2d([[4, 5]], undefined, 'int32');
    expect(() => policy.modulate?.({ ...context, queryPositions: oneRow })).toThrow(
      expect.objectContaining({ name: 'ExpireSpanUsageError', message: 'expire-span policy: modulate: queryPositions must be [2, queries], got [1, 2].' }),
    );
    const spans = policy.predictSpans(1, keyHidden);
    const distances = queryKeyDistances(queryPositions, keyPositions);
    const { mask, remaining } = expireSpanMask(spans, distances, 2);
    expectClose(result?.softMask as tf.Tensor, tf.expandDims(mask, 1));
    expectClose(result?.auxiliaryLoss as tf.Tensor, expireSpanAuxiliaryLoss(remaining, mask, 0.5, 2));
    tf.dispose([keyHidden, keyPositions, queryPositions, oneRow, result?.softMask, result?.auxiliaryLoss, spans, distances, mask, remaining] as tf.Tensor[]);
  });

  test('the task loss and the span loss both reach the span predictor of that layer only', () => {
    const policy = makePolicy({ maxSpan: 3, ramp: 2, alpha: 1 }, { numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 2 });
    const keyHidden = tf.randomNormal([1, 6, 3], 0, 1, 'float32', 8) as tf.Tensor3D;
    const keyPositions = tf.tensor2d([[0, 1, 2, 3, 4, 5]], undefined, 'int32');
    const queryPositions = tf.tensor2d([[4, 5]], undefined, 'int32');
    const probe = tf.randomNormal([1, 1, 2, 6], 0, 1, 'float32', 9);
    const context = { layer: 0, keyHidden, keyPositions, queryPositions, memorySlots: 4, training: true };
    for (const part of ['mask', 'loss'] as const) {
      const { grads, value } = tf.variableGrads(() => {
        const { softMask, auxiliaryLoss } = policy.modulate?.(context) ?? {};
        return (part === 'mask' ? tf.sum(tf.mul(softMask as tf.Tensor, probe)) : auxiliaryLoss) as tf.Scalar;
      }, policy.variables());
      const layer0 = policy.spanPredictor(0);
      const layer1 = policy.spanPredictor(1);
      expect(Math.abs((grads[layer0.bias.name] as tf.Tensor).dataSync()[0] as number)).toBeGreaterThan(1e-3);
      expect(tf.sum(tf.abs(grads[layer0.weight.name] as tf.Tensor)).dataSync()[0]).toBeGreaterThan(1e-3);
      // Layer 1's predictor is not on the path: tfjs reports no gradient (or a zero one) for it.
      const other = grads[layer1.bias.name];
      if (other !== undefined) expectClose(other, 0);
      tf.dispose([value, ...Object.values(grads)]);
    }
    tf.dispose([keyHidden, keyPositions, queryPositions, probe]);
  });

  test('with the task loss removed, the span loss gradient on the bias is alpha/T per fully ramped memory times de/db', () => {
    // w = 0, so every span is e = Lmax * sigmoid(b) = 10 * 0.25 = 2.5, and de/db = Lmax * s * (1 - s) = 1.875.
    // Queries at 10..17 (T = 8), R = 2: key t_i is on the ramp for t - t_i in (2.5, 4.5), i.e. 2 = R queries.
    // Keys 7..13 have both of them inside the segment (alpha/T each); keys 6 and 14 one; 5, 15, 16, 17 none.
    const alpha = 0.4;
    const policy = makePolicy({ maxSpan: 10, ramp: 2, alpha, initFraction: 0.25 }, { numLayers: 1, modelDim: 4, numHeads: 2, segmentLength: 8 });
    const positions = Array.from({ length: 13 }, (_, index) => 5 + index);
    const keyHidden = tf.randomNormal([2, 13, 4]) as tf.Tensor3D;
    const keyPositions = tf.tensor2d([positions, positions], undefined, 'int32');
    const queryPositions = tf.tensor2d([positions.slice(5), positions.slice(5)], undefined, 'int32');
    const bias = policy.spanPredictor(0).bias;
    const { grads, value } = tf.variableGrads(
      () => policy.modulate?.({ layer: 0, keyHidden, keyPositions, queryPositions, memorySlots: 5, training: true }).auxiliaryLoss as tf.Scalar,
      [bias],
    );
    const perSpan = (7 * (alpha / 8) + 2 * (alpha / (2 * 8))) * 1.875; // summed over keys, averaged over the 2 rows
    expectClose(grads[bias.name] as tf.Tensor, perSpan, { atol: 1e-6, rtol: 1e-5 });
    // Loss value: each fully ramped key contributes r = -0.5 and -1.5; key 6 (t = 10): r = -1.5; key 14 (t = 17): r = -0.5.
    expectClose(value, (alpha / (2 * 8)) * (7 * -2 - 1.5 - 0.5), { atol: 1e-7 });
    tf.dispose([keyHidden, keyPositions, queryPositions, value, ...Object.values(grads)]);
  });

  test('noise clamps the spans used for masking at u * maxSpan in training only, one draw per forward pass', () => {
    const dimensions = { numLayers: 2, modelDim: 4, numHeads: 1, segmentLength: 4 };
    const noisy = makePolicy({ maxSpan: 8, ramp: 2, noise: true, seed: 5, initFraction: 0.99 }, dimensions);
    const again = makePolicy({ maxSpan: 8, ramp: 2, noise: true, seed: 5, initFraction: 0.99 }, dimensions);
    const plain = makePolicy({ maxSpan: 8, ramp: 2, initFraction: 0.99 }, dimensions);
    const keyHidden = tf.zeros([1, 12, 4]) as tf.Tensor3D;
    const keyPositions = tf.tensor2d([Array.from({ length: 12 }, (_, index) => index)], undefined, 'int32');
    const queryPositions = tf.tensor2d([[8, 9, 10, 11]], undefined, 'int32');
    const run = (policy: ExpireSpanPolicy, layer: number, training: boolean): tf.Tensor => {
      const result = policy.modulate?.({ layer, keyHidden, keyPositions, queryPositions, memorySlots: 8, training });
      result?.auxiliaryLoss?.dispose();
      return result?.softMask as tf.Tensor;
    };
    const reference = run(plain, 0, true);
    let sawClamp = false;
    for (let forward = 0; forward < 4; forward++) {
      const layer0 = run(noisy, 0, true);
      const layer1 = run(noisy, 1, true);
      const replay = run(again, 0, true);
      run(again, 1, true).dispose();
      // Same seed, same draws; both layers of one forward pass share the draw (identical predictors here).
      expectClose(replay, layer0);
      expectClose(layer1, layer0);
      // Spans are only ever shortened, so the mask only shrinks.
      expect(tf.max(tf.sub(layer0, reference)).dataSync()[0]).toBeLessThanOrEqual(1e-6);
      if ((tf.min(tf.sub(layer0, reference)).dataSync()[0] as number) < -1e-3) sawClamp = true;
      // The clamped mask is the mask of min(e, u * Lmax) for one u: recover u from a ramp entry and check all.
      tf.dispose([layer0, layer1, replay]);
    }
    expect(sawClamp).toBe(true);
    const evaluation = run(noisy, 0, false);
    expectClose(evaluation, reference);
    tf.dispose([keyHidden, keyPositions, queryPositions, reference, evaluation]);
  });

  test('rejects positions that do not match the keys', () => {
    const policy = makePolicy();
    const keyHidden = tf.zeros([1, 3, 4]) as tf.Tensor3D;
    const keyPositions = tf.tensor2d([[0, 1]], undefined, 'int32');
    const queryPositions = tf.tensor2d([[1, 2]], undefined, 'int32');
    expect(() =>
      policy.modulate?.({ layer: 0, keyHidden, keyPositions, queryPositions, memorySlots: 1, training: false }),
    ).toThrow(/keyPositions must be \[1, 3\]/);
    tf.dispose([keyHidden, keyPositions, queryPositions]);
  });
});

describe('write: pruning', () => {
  test('drops expired memories per row, the same count in every row, and keeps row positions', () => {
    // maxSpan 4, R 1, T 2. Span ~4 for +1 inputs, ~0 for -1 inputs. Keep iff e - age + 1 > 0.
    const policy = makePolicy({ maxSpan: 4, ramp: 1 }, { numLayers: 1, modelDim: 4, numHeads: 1, segmentLength: 2 });
    setPredictor(policy, 0, [20, 0, 0, 0], 0);
    let state = policy.initialState(2);
    // Step 1 (positions 0, 1): memory empty, the segment is always kept.
    state = step(policy, state, [controlled([[-1, 1], [1, -1]])]);
    expect(state.layers[0]?.hidden?.shape).toEqual([2, 2, 4]);
    expect(policy.read(state, 0).contiguous).toBe(true);
    // Step 2 (positions 2, 3). Next query at 4. Row 0: pos 0 (e~0, age 4) drop; pos 1 (e~4, age 3) keep.
    // Row 1: pos 0 (e~4, age 4: 4 - 4 + 1 > 0) keep; pos 1 (e~0) drop. One droppable each, T = 2 -> drop 0.
    state = step(policy, state, [controlled([[1, -1], [-1, -1]])]);
    expect(state.layers[0]?.positions?.arraySync()).toEqual([[0, 1, 2, 3], [0, 1, 2, 3]]);
    // Step 3 (positions 4, 5). Next query at 6. Row 0: 0 drop, 1 (age 5) drop, 2 (e~4, age 4) keep, 3 drop: 3.
    // Row 1: 0 (age 6) drop, 1 drop, 2 drop, 3 drop: 4. Minimum 3, rounded down to T: 2.
    // Row 0 drops its two oldest droppable (0, 1); row 1 drops 0 and 1.
    state = step(policy, state, [controlled([[1, 1], [1, -1]])]);
    expect(state.layers[0]?.positions?.arraySync()).toEqual([[2, 3, 4, 5], [2, 3, 4, 5]]);
    expect(policy.read(state, 0).contiguous).toBe(true);
    // Step 4 (positions 6, 7). Next query at 8. Row 0: 2 (age 6) drop, 3 drop, 4 (e~4, age 4) keep, 5 (age 3) keep.
    // Row 1: 2, 3 drop, 4 (age 4) keep, 5 (e~0) drop -> 3. Drop 2 from each: row 0 {2, 3}, row 1 {2, 3}.
    state = step(policy, state, [controlled([[-1, 1], [1, 1]])]);
    expect(state.layers[0]?.positions?.arraySync()).toEqual([[4, 5, 6, 7], [4, 5, 6, 7]]);
    // Step 5 (positions 8, 9). Next query at 10. Row 0: 4 (age 6) drop, 5 drop, 6 (e~0) drop, 7 (age 3) keep.
    // Row 1: 4 drop, 5 drop, 6 (age 4) keep, 7 (age 3) keep -> 2. Drop 2: row 0 drops 4, 5 (oldest droppable).
    state = step(policy, state, [controlled([[1, 1], [1, 1]])]);
    expect(state.layers[0]?.positions?.arraySync()).toEqual([[6, 7, 8, 9], [6, 7, 8, 9]]);
    // Step 6 (positions 10, 11). Next query at 12. Row 0: 6 (e~0) drop, 7 (age 5) drop, 8 keep, 9 keep -> 2.
    // Row 1: 6 (age 6) drop, 7 (age 5) drop, 8, 9 keep -> 2. Drop 2 each.
    state = step(policy, state, [controlled([[-1, 1], [1, -1]])]);
    expect(state.layers[0]?.positions?.arraySync()).toEqual([[8, 9, 10, 11], [8, 9, 10, 11]]);
    disposeState(state);
  });

  test('rows drop different memories: the memory becomes non-contiguous and holds the right hidden states', () => {
    const fresh = makePolicy({ maxSpan: 4, ramp: 1 }, { numLayers: 1, modelDim: 4, numHeads: 1, segmentLength: 1 });
    setPredictor(fresh, 0, [20, 0, 0, 0], 0);
    let other = fresh.initialState(2);
    // T = 1. Row 0 inputs: +1, -1, +1; row 1: -1, +1, +1.
    const inputs = [
      [[1], [-1]],
      [[-1], [1]],
      [[1], [1]],
    ];
    const written: number[][][][] = [];
    for (const rows of inputs) {
      const tensor = controlled(rows);
      written.push(tensor.arraySync());
      other = step(fresh, other, [tensor]);
    }
    // Step 2 (next query 2): row 0 keeps position 0 (e~4, age 2); row 1 could drop position 0 (e~0) but row 0
    // has nothing to drop, so the batch minimum is 0. Step 3 (next query 3): row 0: 0 (age 3) keep, 1 (e~0) drop;
    // row 1: 0 (e~0) drop, 1 (e~4, age 2) keep. One droppable each, T = 1 -> each row drops its own one.
    expect(other.layers[0]?.positions?.arraySync()).toEqual([[0, 2], [1, 2]]);
    const view = fresh.read(other, 0);
    expect(view.contiguous).toBe(false);
    const expectedHidden = [
      [(written[0] as number[][][])[0]?.[0], (written[2] as number[][][])[0]?.[0]],
      [(written[1] as number[][][])[1]?.[0], (written[2] as number[][][])[1]?.[0]],
    ] as number[][][];
    expectClose(view.hidden as tf.Tensor, expectedHidden);
    disposeState(other);
  });

  test('prune: false keeps every memory; maxMemory caps the memory to its newest slots', () => {
    const keepAll = makePolicy({ maxSpan: 4, ramp: 1, prune: false });
    const capped = makePolicy({ maxSpan: 4, ramp: 1, prune: false, maxMemory: 5 });
    setPredictor(keepAll, 0, [20, 0, 0, 0], 0);
    let all = keepAll.initialState(1);
    let few = capped.initialState(1);
    for (let index = 0; index < 4; index++) {
      all = step(keepAll, all, [controlled([[-1, -1]])]);
      few = step(capped, few, [controlled([[-1, -1]])]);
    }
    expect(all.layers[0]?.positions?.arraySync()).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(few.layers[0]?.positions?.arraySync()).toEqual([[3, 4, 5, 6, 7]]);
    expect(keepAll.read(all, 0).contiguous).toBe(true);
    disposeState(all);
    disposeState(few);
  });

  test('a cap of at most T slots keeps the newest segment slots without predicting a span; one host read per write', () => {
    const dimensions = { numLayers: 2, modelDim: 4, numHeads: 1, segmentLength: 3 };
    const capped = makePolicy({ maxSpan: 4, ramp: 1, maxMemory: 2 }, dimensions);
    const reads = countReads();
    let state = capped.initialState(2);
    const counts: number[] = [];
    const last: number[][][][] = [];
    for (let index = 0; index < 3; index++) {
      const inputs = [0, 1].map((layer) => tf.randomNormal([2, 3, 4], 0, 1, 'float32', 10 * index + layer) as tf.Tensor3D);
      last.splice(0, last.length, ...inputs.map((input) => input.arraySync()));
      const before = reads.count();
      state = step(capped, state, inputs);
      counts.push(reads.count() - before);
    }
    reads.restore();
    // The segment positions, read once for both layers; no spans (which would be two reads per layer).
    expect(counts).toEqual([1, 1, 1]);
    for (const layer of [0, 1]) {
      expect(state.layers[layer]?.positions?.arraySync()).toEqual([[7, 8], [7, 8]]);
      expectClose(state.layers[layer]?.hidden as tf.Tensor, (last[layer] as number[][][]).map((row) => row.slice(1)));
      expect(capped.read(state, layer).contiguous).toBe(true);
    }
    disposeState(state);
  });

  test('contiguity of an appended memory is known from the segment and the old memory, read once per write', () => {
    const dimensions = { numLayers: 2, modelDim: 4, numHeads: 1, segmentLength: 2 };
    const keepAll = makePolicy({ maxSpan: 4, ramp: 1, prune: false, maxMemory: 5 }, dimensions);
    const reads = countReads();
    let state = keepAll.initialState(1);
    const counts: number[] = [];
    for (let index = 0; index < 4; index++) {
      const before = reads.count();
      state = step(keepAll, state, [controlled([[1, 1]]), controlled([[-1, 1]])]);
      counts.push(reads.count() - before);
    }
    reads.restore();
    expect(counts).toEqual([1, 1, 1, 1]);
    expect(state.layers[1]?.positions?.arraySync()).toEqual([[3, 4, 5, 6, 7]]);
    expect(keepAll.read(state, 0).contiguous).toBe(true);
    expect(keepAll.read(state, 1).contiguous).toBe(true);
    disposeState(state);
  });

  test('a segment with gaps in its positions gives a non-contiguous memory', () => {
    const policy = makePolicy({ maxSpan: 4, ramp: 1, prune: false }, { numLayers: 1, modelDim: 4, numHeads: 1, segmentLength: 2 });
    const inputs = controlled([[1, 1]]);
    const positions = tf.tensor2d([[0, 5]], [1, 2], 'int32');
    const state = policy.initialState(1);
    const next = policy.write(state, { layerInputs: [inputs], positions, contentAttention: [], training: false });
    expect(policy.read(next, 0).contiguous).toBe(false);
    disposeStateExcept(state, next);
    tf.dispose([inputs, positions]);
    disposeState(next);
  });

  test('pruning is lossless for masked attention: same outputs as keeping every memory, with a smaller memory', () => {
    // Attention stand-in: scores = (q W) . k, values = k, softmax masked and renormalised by the policy's mask.
    const dimensions = { numLayers: 2, modelDim: 4, numHeads: 1, segmentLength: 3 };
    const pruned = makePolicy({ maxSpan: 6, ramp: 2 }, dimensions);
    const kept = makePolicy({ maxSpan: 6, ramp: 2, prune: false }, dimensions);
    for (const policy of [pruned, kept]) {
      setPredictor(policy, 0, [3, -1, 0.5, 0], -1);
      setPredictor(policy, 1, [-2, 0, 1, 1], -0.5);
    }
    const projection = tf.randomNormal([4, 4], 0, 1, 'float32', 21) as tf.Tensor2D;
    const batch = 2;
    let statePruned = pruned.initialState(batch);
    let stateKept = kept.initialState(batch);
    const attend = (policy: ExpireSpanPolicy, state: MemoryState, layer: number, current: tf.Tensor3D): tf.Tensor =>
      tf.tidy(() => {
        const view = policy.read(state, layer);
        const queryPositions = tf.add(tf.zeros([batch, 3], 'int32'), tf.range(state.tokensSeen, state.tokensSeen + 3, 1, 'int32')) as tf.Tensor2D;
        const keyHidden = (view.hidden ? tf.concat([view.hidden, current], 1) : current) as tf.Tensor3D;
        const keyPositions = (view.positions ? tf.concat([view.positions, queryPositions], 1) : queryPositions) as tf.Tensor2D;
        const { softMask } = policy.modulate?.({
          layer,
          keyHidden,
          keyPositions,
          queryPositions,
          memorySlots: view.hidden?.shape[1] ?? 0,
          training: false,
        }) ?? {};
        const queries = tf.reshape(tf.matMul(tf.reshape(current, [batch * 3, 4]), projection), [batch, 3, 4]);
        const scores = tf.expandDims(tf.matMul(queries, keyHidden, false, true), 1);
        const probabilities = maskedSoftmax(scores, { softMask: softMask as tf.Tensor });
        return tf.matMul(tf.squeeze(probabilities, [1]) as tf.Tensor3D, keyHidden);
      });
    let smaller = false;
    for (let index = 0; index < 8; index++) {
      const inputs = [0, 1].map((layer) => tf.randomNormal([batch, 3, 4], 0, 1.5, 'float32', 100 + index * 2 + layer) as tf.Tensor3D);
      for (let layer = 0; layer < 2; layer++) {
        const a = attend(pruned, statePruned, layer, inputs[layer] as tf.Tensor3D);
        const b = attend(kept, stateKept, layer, inputs[layer] as tf.Tensor3D);
        expectClose(a, b, { atol: 1e-5, message: `step ${index} layer ${layer}` });
        tf.dispose([a, b]);
        const prunedSlots = statePruned.layers[layer]?.hidden?.shape[1] ?? 0;
        const keptSlots = stateKept.layers[layer]?.hidden?.shape[1] ?? 0;
        if (prunedSlots < keptSlots) smaller = true;
      }
      statePruned = step(pruned, statePruned, inputs.map((input) => tf.clone(input)));
      stateKept = step(kept, stateKept, inputs);
    }
    expect(smaller).toBe(true);
    tf.dispose(projection);
    disposeState(statePruned);
    disposeState(stateKept);
  });
});

describe('state and telemetry', () => {
  test('a restored non-contiguous memory stays non-contiguous (the gather path)', () => {
    const policy = makePolicy({ maxSpan: 4, ramp: 1 }, { numLayers: 1, modelDim: 4, numHeads: 1, segmentLength: 1 });
    setPredictor(policy, 0, [20, 0, 0, 0], 0);
    let state = policy.initialState(2);
    for (const rows of [[[1], [-1]], [[-1], [1]], [[1], [1]]]) state = step(policy, state, [controlled(rows)]);
    expect(policy.read(state, 0).contiguous).toBe(false);
    const saved = policy.serializeState(state);
    expect(saved.meta.kind).toBe('expire-span');
    const restored = policy.deserializeState(saved);
    tf.dispose(Object.values(saved.tensors));
    expect(restored.tokensSeen).toBe(3);
    expect(restored.batchSize).toBe(2);
    expectClose(restored.layers[0]?.hidden as tf.Tensor, state.layers[0]?.hidden as tf.Tensor);
    expect(restored.layers[0]?.positions?.arraySync()).toEqual(state.layers[0]?.positions?.arraySync());
    expect(policy.read(restored, 0).contiguous).toBe(false);
    const fifo = policy.serializeState(state);
    fifo.meta.kind = 'fifo';
    expect(() => policy.deserializeState(fifo)).toThrow(/kind/);
    tf.dispose(Object.values(fifo.tensors));
    disposeState(state);
    disposeState(restored);
  });

  test('telemetry reports memory slots and the mean and max span of every layer', () => {
    const policy = makePolicy({ maxSpan: 10, ramp: 2, prune: false }, { numLayers: 2, modelDim: 4, numHeads: 1, segmentLength: 2 });
    setPredictor(policy, 1, [1, 2, 0, 0], 0.5);
    let state = policy.initialState(2);
    const empty = policy.telemetry(state);
    expect(empty).toEqual({ memorySlots: [0, 0], perLayer: { meanSpan: [0, 0], maxSpan: [0, 0] } });
    for (let index = 0; index < 2; index++) {
      state = step(policy, state, [tf.randomNormal([2, 2, 4]) as tf.Tensor3D, tf.randomNormal([2, 2, 4]) as tf.Tensor3D]);
    }
    const telemetry = policy.telemetry(state);
    expect(telemetry.memorySlots).toEqual([4, 4]);
    const spans = policy.predictSpans(1, state.layers[1]?.hidden as tf.Tensor3D);
    const values = Array.from(spans.dataSync());
    expectClose(telemetry.perLayer.meanSpan as number[], [1, values.reduce((a, b) => a + b, 0) / values.length], { atol: 1e-5 });
    expectClose(telemetry.perLayer.maxSpan as number[], [1, Math.max(...values)], { atol: 1e-5 });
    spans.dispose();
    disposeState(state);
  });
});
