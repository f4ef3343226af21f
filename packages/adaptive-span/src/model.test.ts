// Adaptive-Span inside the real model (SPEC 5 with SPEC 2): trimming leaves outputs unchanged, clamping, training, leaks.
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { MemoryPolicy } from '@engram/memory';
import { createAdam, createModel } from '@engram/model';
import { expectReloadResumesStream } from '@engram/model/testing';
import type { MemoryTransformer, ModelConfig } from '@engram/model';
import { congruentialTokens, runSegments, smallModelConfig, streamLogits, trainSegmentsWithoutLeak } from '@engram/memory/testing';
import { describe, expect, test } from 'vitest';
import { createAdaptiveSpanPolicy } from './policy.js';
import type { AdaptiveSpanOptions, AdaptiveSpanPolicy } from './policy.js';

const config: ModelConfig = smallModelConfig(4);
const { segmentLength } = config;

const tokens = (rows: number, length: number, seed: number): number[][] => congruentialTokens(rows, length, config.vocabSize, seed);

/** Logits of segments 0 .. segments - 1 from a fresh state, and the memory slots of every layer after each. */
function run(model: MemoryTransformer, stream: number[][], segments: number): { logits: number[][]; slots: number[][] } {
  const { logits, observed } = runSegments(model, stream, {
    to: segments,
    segmentLength,
    observe: (state) => state.layers.map((layer) => layer.hidden?.shape[1] ?? 0),
  });
  return { logits, slots: observed };
}

function setRatios(policy: AdaptiveSpanPolicy, ratios: number[][]): void {
  tf.tidy(() => ratios.forEach((values, layer) => policy.spanRatios(layer).assign(tf.tensor1d(values))));
}

describe('Adaptive-Span in the model', () => {
  test('trimming leaves outputs unchanged (versus the same spans over an untrimmed memory of S slots)', () => {
    const maxSpan = 40;
    const trimmedPolicy = createAdaptiveSpanPolicy({ maxSpan, ramp: 2, buffer: 0 });
    const trimmed = createModel(config, { policy: trimmedPolicy });
    // The same policy (same spans, same mask) but writing a FIFO memory of S slots: nothing trimmed.
    const spansOnly = createAdaptiveSpanPolicy({ maxSpan, ramp: 2, buffer: 0 });
    const fifo = createFifoPolicy({ memoryLength: maxSpan });
    const untrimmedPolicy: MemoryPolicy = {
      ...spansOnly,
      build(dimensions) {
        spansOnly.build(dimensions);
        fifo.build(dimensions);
      },
      write: (state, record) => fifo.write(state, record),
    };
    const untrimmed = createModel(config, { policy: untrimmedPolicy });
    const ratios = [
      [0.1, 0.3],
      [0.05, 0.02],
    ];
    setRatios(trimmedPolicy, ratios);
    setRatios(spansOnly, ratios);
    const source = trimmed.namedVariables();
    for (const [name, variable] of Object.entries(untrimmed.namedVariables())) variable.assign(source[name] as tf.Variable);
    const stream = tokens(2, 12 * segmentLength, 3);
    const a = run(trimmed, stream, 12);
    const b = run(untrimmed, stream, 12);
    a.logits.forEach((logits, index) => expectClose(logits, b.logits[index] as number[], { atol: 1e-5, rtol: 1e-5, message: `segment ${index}` }));
    // Layer 0 keeps ceil(0.3 * 40 + 2) = 14 slots, layer 1 ceil(0.05 * 40 + 2) = 4; the FIFO keeps 40.
    expect(a.slots[11]).toEqual([14, 4]);
    expect(b.slots[11]).toEqual([40, 40]);
    trimmed.dispose();
    untrimmed.dispose();
  });

  test('training: spans stay clamped in [0, S] after every step, the loss falls, 50 steps leak no tensor', () => {
    // A large alpha drives spans to 0 within a few Adam steps; clamping must hold them there.
    const policy = createAdaptiveSpanPolicy({ maxSpan: 16, ramp: 2, alpha: 0.05, initFraction: 0.5, buffer: 2 });
    const model = createModel(config, { policy });
    const optimizer = createAdam({ learningRate: 0.05 });
    const stream = tokens(2, 51 * segmentLength + 1, 8);
    const losses: number[] = [];
    let sawZero = false;
    // The first step creates Adam's moment slots (they live as long as the optimizer); the other 50 leak nothing.
    const state = trainSegmentsWithoutLeak(model, stream, {
      steps: 51,
      segmentLength,
      optimizer,
      afterStep: (result) => {
        expect(result.auxiliaryLoss).toBeGreaterThanOrEqual(0);
        losses.push(result.taskLoss);
        for (const layer of policy.spans()) {
          for (const span of layer) {
            expect(span).toBeGreaterThanOrEqual(0);
            expect(span).toBeLessThanOrEqual(16);
            if (span === 0) sawZero = true;
          }
        }
        // The memory follows the spans: never more than min(S, ceil(z_max + R) + buffer) slots.
        const telemetry = policy.telemetry(result.state);
        telemetry.memorySlots.forEach((slots, layer) => expect(slots).toBeLessThanOrEqual(telemetry.perLayer.memoryLimit?.[layer] as number));
      },
    });
    expect(sawZero).toBe(true);
    // Spans collapsed, so memory was trimmed to ceil(0 + R) + buffer = 4 slots somewhere.
    expect(Math.min(...policy.telemetry(state).memorySlots)).toBeLessThanOrEqual(4);
    disposeState(state);
    const early = losses.slice(0, 5).reduce((x, y) => x + y, 0) / 5;
    const late = losses.slice(-5).reduce((x, y) => x + y, 0) / 5;
    expect(late).toBeLessThan(early);
    optimizer.dispose();
    model.dispose();
  });

  test('token-by-token streaming equals teacher-forced logits', () => {
    const policy = createAdaptiveSpanPolicy({ maxSpan: 12, ramp: 2, buffer: 1, initFraction: 0.3 });
    const model = createModel(config, { policy });
    const stream = tokens(1, 6 * segmentLength, 5);
    const teacher = run(model, stream, 6).logits.flat();
    expectClose(streamLogits(model, stream[0] as number[]), teacher, { atol: 1e-4, rtol: 1e-4 });
    model.dispose();
  });

  test('BPTT (two segments in one gradient) trains the spans and leaks nothing', () => {
    const policy = createAdaptiveSpanPolicy({ maxSpan: 12, ramp: 2, alpha: 1e-3, initFraction: 0.4, buffer: 1 });
    const model = createModel(config, { policy });
    const optimizer = createAdam({ learningRate: 1e-2 });
    const stream = tokens(2, 12 * segmentLength + 1, 12);
    const before = policy.spans().flat();
    const state = trainSegmentsWithoutLeak(model, stream, { steps: 6, unroll: 2, segmentLength, optimizer });
    expect(policy.spans().flat().some((span, index) => Math.abs(span - (before[index] as number)) > 1e-3)).toBe(true);
    disposeState(state);
    optimizer.dispose();
    model.dispose();
  });

  test('encodeModel / decodeModel and encodeMemoryState / decodeMemoryState (what saveModel and saveMemoryState write) resume the stream exactly', () => {
    const policy = createAdaptiveSpanPolicy({ maxSpan: 20, ramp: 2, buffer: 1 });
    const model = createModel(config, { policy });
    setRatios(policy, [
      [0.2, 0.35],
      [0.1, 0.6],
    ]);
    const stream = tokens(2, 9 * segmentLength, 19);
    const state = expectReloadResumesStream({
      model, policy, stream, segmentLength, saveAfter: 5, to: 9,
      recreatePolicy: (config) => createAdaptiveSpanPolicy(config as unknown as AdaptiveSpanOptions),
      check: (reloaded) => {
        expect(Object.keys(reloaded.saved.tensors)).toContain('policy.layers.1.spanRatio');
        expect(reloaded.policy.spans()).toEqual(policy.spans());
      },
    });
    disposeState(state);
    model.dispose();
  });
});
