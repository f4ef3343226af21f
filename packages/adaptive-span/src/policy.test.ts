// Tests of the Adaptive-Span MemoryPolicy at the policy level (SPEC 5): the conformance suite, build, modulate, clamping, trimming, state.
import * as tf from '@tensorflow/tfjs';
import { maskedSoftmax } from '@engram/kernels';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { MemoryPolicy, MemoryState } from '@engram/memory';
import { builtPoliciesEachTest, expectOptionErrors, testMemoryPolicy, testMemoryPolicyDescriptor, writeSegment } from '@engram/memory/testing';
import { adaptiveSpanPolicyDescriptor } from './descriptor.js';
import { createModel } from '@engram/model';
import { describe, expect, test } from 'vitest';
import { AdaptiveSpanOptionError, AdaptiveSpanUsageError } from './errors.js';
import { createAdaptiveSpanPolicy } from './policy.js';
import type { AdaptiveSpanOptions, AdaptiveSpanPolicy } from './policy.js';
import { adaptiveSpanLoss, adaptiveSpanMask, headDistances } from './spans.js';

testMemoryPolicy({
  create: () => createAdaptiveSpanPolicy({ maxSpan: 8, ramp: 2, alpha: 0.1, initFraction: 0.3, buffer: 1 }),
  // Trimming is lossless: the memory holds every key the largest span can still see.
  model: { createModel, keepEverything: () => createAdaptiveSpanPolicy({ maxSpan: 8, ramp: 2, initFraction: 0.5, buffer: 0 }) },
});

testMemoryPolicyDescriptor(adaptiveSpanPolicyDescriptor, { maxSpan: 64, ramp: 5 });

/** A policy (maxSpan 8, ramp 2 unless `options` say otherwise) built for 2 layers of width 4, 2 heads, segments of 2 (or `dimensions`); disposed after the test. */
const makePolicy = builtPoliciesEachTest(
  (options: Partial<AdaptiveSpanOptions> = {}) => createAdaptiveSpanPolicy({ maxSpan: 8, ramp: 2, ...options }),
  { numLayers: 2, modelDim: 4, numHeads: 2, segmentLength: 2 },
);

function setRatios(policy: AdaptiveSpanPolicy, layer: number, values: number[]): void {
  tf.tidy(() => policy.spanRatios(layer).assign(tf.tensor1d(values)));
}

describe('createAdaptiveSpanPolicy options', () => {
  test('rejects bad options with a message naming the option', () => {
    const bad: [Partial<AdaptiveSpanOptions>, string, string?][] = [
      [{ maxSpan: 0 }, 'maxSpan'],
      [{ maxSpan: 7.5 }, 'maxSpan'],
      [{ ramp: 0 }, 'ramp', 'createAdaptiveSpanPolicy: option "ramp" must be a finite number > 0, got 0.'],
      [{ alpha: Number.NaN }, 'alpha', 'createAdaptiveSpanPolicy: option "alpha" must be a finite number >= 0, got NaN.'],
      [{ initFraction: 1.5 }, 'initFraction'],
      [{ buffer: -1 }, 'buffer'],
      [{ kind: 'expire-span' }, 'kind', `createAdaptiveSpanPolicy: option "kind" must be "adaptive-span" (or absent), got "expire-span". This config was saved by another policy; recreate it with that policy's factory.`],
    ];
    expectOptionErrors((options) => createAdaptiveSpanPolicy({ maxSpan: 8, ramp: 2, ...options }), AdaptiveSpanOptionError, bad);
    const notAnObject = 'createAdaptiveSpanPolicy: option "options" must be an object such as { maxSpan: 512, ramp: 32 }, got null.';
    expectOptionErrors(createAdaptiveSpanPolicy, AdaptiveSpanOptionError, [[null as unknown as AdaptiveSpanOptions, 'options', notAnObject]]);
  });

  test('defaults follow the official recipe, and config() recreates the policy', () => {
    const policy = createAdaptiveSpanPolicy({ maxSpan: 512, ramp: 32 });
    expect(policy.config()).toEqual({ kind: 'adaptive-span', maxSpan: 512, ramp: 32, alpha: 5e-7, initFraction: 0, buffer: 64 });
    const custom = createAdaptiveSpanPolicy({ maxSpan: 64, ramp: 4, alpha: 1e-6, initFraction: 0.5, buffer: 8 });
    const config = custom.config();
    expect(createAdaptiveSpanPolicy(config as unknown as AdaptiveSpanOptions).config()).toEqual(config);
    expect(custom.temporalRange(3)).toBe(192);
  });
});

describe('build, modulate and clamping', () => {
  test('one ratio variable [heads] per layer, initialised to initFraction, with unique names', () => {
    const first = makePolicy({ initFraction: 0.25 });
    const second = makePolicy();
    expect(first.kind).toBe('adaptive-span');
    expect(first.variables()).toHaveLength(2);
    expect(first.separateVariables()).toEqual([]);
    expectClose(first.spanRatios(1), [0.25, 0.25]);
    expect(first.spans()).toEqual([[2, 2], [2, 2]]);
    const names = [...first.variables(), ...second.variables()].map((variable) => variable.name);
    expect(new Set(names).size).toBe(4);
    expect(() => first.spanRatios(2)).toThrow(AdaptiveSpanUsageError);
    expect(() => createAdaptiveSpanPolicy({ maxSpan: 8, ramp: 2 }).initialState(1)).toThrow(/before build/);
  });

  test('modulate returns the per-head mask [1, H, T, K] (every row has the same positions) and the span loss; both train the ratios', () => {
    const policy = makePolicy({ alpha: 0.01 });
    setRatios(policy, 1, [0.1, 0.45]);
    const keyHidden = tf.randomNormal([2, 6, 4]) as tf.Tensor3D;
    const keyPositions = tf.tensor2d([[2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7]], undefined, 'int32');
    const queryPositions = tf.tensor2d([[6, 7], [6, 7]], undefined, 'int32');
    const context = { layer: 1, keyHidden, keyPositions, queryPositions, memorySlots: 4, training: true };
    const result = policy.modulate?.(context);
    expect(result?.softMask?.shape).toEqual([1, 2, 2, 6]);
    const distances = headDistances(queryPositions, keyPositions);
    const mask = adaptiveSpanMask(policy.spanRatios(1), distances, 8, 2);
    const loss = adaptiveSpanLoss(policy.spanRatios(1), 0.01, 8);
    expectClose(tf.broadcastTo(result?.softMask as tf.Tensor, mask.shape), mask);
    expectClose(result?.auxiliaryLoss as tf.Tensor, loss);
    const probe = tf.randomNormal([2, 2, 2, 6]);
    const { grads, value } = tf.variableGrads(() => {
      const { softMask, auxiliaryLoss } = policy.modulate?.(context) ?? {};
      return tf.add(tf.sum(tf.mul(softMask as tf.Tensor, probe)), auxiliaryLoss as tf.Scalar) as tf.Scalar;
    }, policy.variables());
    const gradient = grads[policy.spanRatios(1).name] as tf.Tensor;
    expect(tf.min(tf.abs(gradient)).dataSync()[0]).toBeGreaterThan(1e-4);
    // Position tensors of the wrong shape: the package's usage error, naming the policy and the shape it needs.
    expect(() => policy.modulate?.({ ...context, keyPositions: queryPositions })).toThrow(
      expect.objectContaining({ constructor: AdaptiveSpanUsageError, message: 'adaptive-span policy: modulate: keyPositions must be [2, 6] to match keyHidden, got [2, 2].' }),
    );
    expect(() => policy.modulate?.({ ...context, queryPositions: keyHidden as unknown as tf.Tensor2D })).toThrow(
      expect.objectContaining({ name: 'AdaptiveSpanUsageError', message: 'adaptive-span policy: modulate: queryPositions must be [2, queries], got [2, 6, 4].' }),
    );
    tf.dispose([keyHidden, keyPositions, queryPositions, result?.softMask, result?.auxiliaryLoss, distances, mask, loss, probe, value, ...Object.values(grads)] as tf.Tensor[]);
  });

  test('afterOptimizerStep clamps every ratio into [0, 1] after an optimizer step pushed it out', () => {
    const policy = makePolicy({ alpha: 1 });
    setRatios(policy, 0, [0.05, 0.95]);
    setRatios(policy, 1, [0.5, 0.5]);
    const optimizer = tf.train.sgd(1);
    // Gradient of r0 - r1 pushes head 0 down and head 1 up by 1 each, far outside [0, 1].
    optimizer.minimize(() => {
      const ratios = policy.spanRatios(0);
      return tf.sub(tf.slice(ratios, [0], [1]).asScalar(), tf.slice(ratios, [1], [1]).asScalar()) as tf.Scalar;
    }, false, policy.variables());
    expectClose(policy.spanRatios(0), [-0.95, 1.95]);
    policy.afterOptimizerStep?.();
    expectClose(policy.spanRatios(0), [0, 1]);
    expectClose(policy.spanRatios(1), [0.5, 0.5]);
    expect(policy.spans()).toEqual([[0, 8], [4, 4]]);
    optimizer.dispose();
  });
});

describe('write: trimming', () => {
  test('memory is a FIFO trimmed to min(S, ceil(z_max + R) + buffer) per layer, so compute falls with the span', () => {
    const policy = makePolicy({ maxSpan: 16, ramp: 2, buffer: 1 }, { numLayers: 2, modelDim: 4, numHeads: 2, segmentLength: 2 });
    setRatios(policy, 0, [0.1, 0.25]); // z_max = 4: keep ceil(4 + 2) + 1 = 7
    setRatios(policy, 1, [1, 0]); // z_max = 16: keep 16
    let state = policy.initialState(2);
    for (let index = 0; index < 10; index++) {
      state = writeSegment(policy, state, [tf.randomNormal([2, 2, 4]) as tf.Tensor3D, tf.randomNormal([2, 2, 4]) as tf.Tensor3D]);
    }
    expect(policy.telemetry(state).memorySlots).toEqual([7, 16]);
    expect(state.layers[0]?.positions?.arraySync()).toEqual([[13, 14, 15, 16, 17, 18, 19], [13, 14, 15, 16, 17, 18, 19]]);
    expect(policy.read(state, 0).contiguous).toBe(true);
    expect(policy.memoryLimit(0)).toBe(7);
    // Spans shrink: the next write trims layer 1 as well.
    setRatios(policy, 1, [0, 0]);
    state = writeSegment(policy, state, [tf.randomNormal([2, 2, 4]) as tf.Tensor3D, tf.randomNormal([2, 2, 4]) as tf.Tensor3D]);
    expect(policy.telemetry(state).memorySlots).toEqual([7, 3]);
    disposeState(state);
  });

  test('trimming leaves masked attention unchanged (versus a FIFO memory of S slots)', () => {
    const dimensions = { numLayers: 1, modelDim: 4, numHeads: 2, segmentLength: 3 };
    const policy = makePolicy({ maxSpan: 20, ramp: 2, buffer: 0 }, dimensions);
    setRatios(policy, 0, [0.12, 0.27]);
    const fifo = createFifoPolicy({ memoryLength: 20 });
    fifo.build(dimensions);
    const projection = tf.randomNormal([4, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const batch = 2;
    const attend = (reader: MemoryPolicy, state: MemoryState, current: tf.Tensor3D): tf.Tensor =>
      tf.tidy(() => {
        const view = reader.read(state, 0);
        const queryPositions = tf.add(tf.zeros([batch, 3], 'int32'), tf.range(state.tokensSeen, state.tokensSeen + 3, 1, 'int32')) as tf.Tensor2D;
        const keyHidden = (view.hidden ? tf.concat([view.hidden, current], 1) : current) as tf.Tensor3D;
        const keyPositions = (view.positions ? tf.concat([view.positions, queryPositions], 1) : queryPositions) as tf.Tensor2D;
        const { softMask } = policy.modulate?.({ layer: 0, keyHidden, keyPositions, queryPositions, memorySlots: 0, training: false }) ?? {};
        const queries = tf.reshape(tf.matMul(tf.reshape(current, [batch * 3, 4]), projection), [batch, 1, 3, 4]);
        const keys = tf.expandDims(keyHidden, 1);
        const scores = tf.matMul(tf.tile(queries, [1, 2, 1, 1]), tf.tile(keys, [1, 2, 1, 1]), false, true);
        const probabilities = maskedSoftmax(scores, { softMask: softMask as tf.Tensor });
        return tf.matMul(probabilities, tf.tile(keys, [1, 2, 1, 1]));
      });
    let trimmed = policy.initialState(batch);
    let full = fifo.initialState(batch);
    for (let index = 0; index < 10; index++) {
      const input = tf.randomNormal([batch, 3, 4], 0, 1, 'float32', 50 + index) as tf.Tensor3D;
      const a = attend(policy, trimmed, input);
      const b = attend(fifo, full, input);
      expectClose(a, b, { atol: 1e-5, message: `step ${index}` });
      tf.dispose([a, b]);
      trimmed = writeSegment(policy, trimmed, [tf.clone(input)]);
      full = writeSegment(fifo, full, [input]);
    }
    // ceil(0.27 * 20 + 2) = 8 slots instead of 20.
    expect(trimmed.layers[0]?.hidden?.shape[1]).toBe(8);
    expect(full.layers[0]?.hidden?.shape[1]).toBe(20);
    tf.dispose(projection);
    disposeState(trimmed);
    disposeState(full);
  });
});

describe('state and telemetry', () => {
  test('refuses a saved memory that is not a trimmed FIFO', () => {
    const policy = makePolicy({ buffer: 0 });
    let state = policy.initialState(2);
    for (let index = 0; index < 3; index++) {
      state = writeSegment(policy, state, [tf.randomNormal([2, 2, 4]) as tf.Tensor3D, tf.randomNormal([2, 2, 4]) as tf.Tensor3D]);
    }
    const broken = policy.serializeState(state);
    const positions = broken.tensors['layer0.positions'] as tf.Tensor;
    broken.tensors['layer0.positions'] = tf.add(positions, tf.scalar(1, 'int32'));
    positions.dispose();
    expect(() => policy.deserializeState(broken)).toThrow(/not a trimmed FIFO/);
    expect(() => policy.deserializeState(broken)).toThrow(AdaptiveSpanUsageError);
    tf.dispose(Object.values(broken.tensors));
    disposeState(state);
  });

  test('telemetry reports memory slots, mean and max span and the memory limit per layer', () => {
    const policy = makePolicy({ maxSpan: 10, ramp: 2, buffer: 3 });
    setRatios(policy, 0, [0.2, 0.6]);
    setRatios(policy, 1, [0.1, 0.1]);
    const state = policy.initialState(1);
    const telemetry = policy.telemetry(state);
    expect(telemetry.memorySlots).toEqual([0, 0]);
    expectClose(telemetry.perLayer.meanSpan as number[], [4, 1], { atol: 1e-5 });
    expectClose(telemetry.perLayer.maxSpan as number[], [6, 1], { atol: 1e-5 });
    expect(telemetry.perLayer.memoryLimit).toEqual([10, 6]);
  });
});
