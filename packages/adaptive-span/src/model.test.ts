// Adaptive-Span inside the real model (SPEC 5 with SPEC 2): trimming leaves outputs unchanged, clamping, training, leaks.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expectClose, expectNoLeak } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { MemoryPolicy, MemoryState } from '@engram/memory';
import { createAdam, createModel } from '@engram/model';
import { loadMemoryState, loadModel, readModelConfig, saveMemoryState, saveModel } from '@engram/model/node';
import type { MemoryTransformer, ModelConfig } from '@engram/model';
import { describe, expect, test } from 'vitest';
import { createAdaptiveSpanPolicy } from './policy.js';
import type { AdaptiveSpanOptions, AdaptiveSpanPolicy } from './policy.js';

const config: ModelConfig = {
  vocabSize: 13,
  modelDim: 8,
  numHeads: 2,
  numLayers: 2,
  feedForwardDim: 16,
  segmentLength: 4,
  initStandardDeviation: 0.3,
  seed: 4,
};

function tokens(rows: number, length: number, seed: number): number[][] {
  let value = seed;
  return Array.from({ length: rows }, () =>
    Array.from({ length }, () => {
      value = (value * 1103515245 + 12345) % 2147483648;
      return value % config.vocabSize;
    }),
  );
}

function segment(stream: number[][], index: number): tf.Tensor2D {
  const start = index * config.segmentLength;
  return tf.tensor2d(stream.map((row) => row.slice(start, start + config.segmentLength)), undefined, 'int32');
}

function run(model: MemoryTransformer, stream: number[][], segments: number): { logits: number[][]; slots: number[][] } {
  let state: MemoryState = model.initialState(stream.length);
  const logits: number[][] = [];
  const slots: number[][] = [];
  for (let index = 0; index < segments; index++) {
    const inputs = segment(stream, index);
    const result = model.forward(inputs, state);
    logits.push(Array.from(result.logits.dataSync()));
    result.logits.dispose();
    inputs.dispose();
    state = result.state;
    slots.push(state.layers.map((layer) => layer.hidden?.shape[1] ?? 0));
  }
  disposeState(state);
  return { logits, slots };
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
    const stream = tokens(2, 12 * config.segmentLength, 3);
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
    const stream = tokens(2, 51 * config.segmentLength + 1, 8);
    const losses: number[] = [];
    let sawZero = false;
    let state = model.initialState(2);
    const trainSegment = (index: number): void => {
      const start = index * config.segmentLength;
      const inputs = tf.tensor2d(stream.map((row) => row.slice(start, start + config.segmentLength)), undefined, 'int32');
      const targets = tf.tensor2d(stream.map((row) => row.slice(start + 1, start + 1 + config.segmentLength)), undefined, 'int32');
      const result = model.trainStep({ inputs, targets }, state, { optimizer });
      expect(result.applied).toBe(true);
      expect(result.auxiliaryLoss).toBeGreaterThanOrEqual(0);
      losses.push(result.taskLoss);
      state = result.state;
      for (const layer of policy.spans()) {
        for (const span of layer) {
          expect(span).toBeGreaterThanOrEqual(0);
          expect(span).toBeLessThanOrEqual(16);
          if (span === 0) sawZero = true;
        }
      }
      // The memory follows the spans: never more than min(S, ceil(z_max + R) + buffer) slots.
      const telemetry = policy.telemetry(state);
      telemetry.memorySlots.forEach((slots, layer) => expect(slots).toBeLessThanOrEqual(telemetry.perLayer.memoryLimit?.[layer] as number));
      tf.dispose([inputs, targets]);
    };
    // The first step creates Adam's moment slots (they live as long as the optimizer).
    trainSegment(0);
    expectNoLeak(() => {
      for (let index = 1; index <= 50; index++) trainSegment(index);
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
    const stream = tokens(1, 6 * config.segmentLength, 5);
    const teacher = run(model, stream, 6).logits.flat();
    const live = model.createStream();
    const pushed: number[] = [];
    for (const token of stream[0] as number[]) pushed.push(...live.push(token));
    expectClose(pushed, teacher, { atol: 1e-4, rtol: 1e-4 });
    live.dispose();
    model.dispose();
  });

  test('BPTT (two segments in one gradient) trains the spans and leaks nothing', () => {
    const policy = createAdaptiveSpanPolicy({ maxSpan: 12, ramp: 2, alpha: 1e-3, initFraction: 0.4, buffer: 1 });
    const model = createModel(config, { policy });
    const optimizer = createAdam({ learningRate: 1e-2 });
    const stream = tokens(2, 12 * config.segmentLength + 1, 12);
    const before = policy.spans().flat();
    let state = model.initialState(2);
    const trainPair = (index: number): void => {
      const batches = [2 * index, 2 * index + 1].map((segmentIndex) => {
        const start = segmentIndex * config.segmentLength;
        return {
          inputs: tf.tensor2d(stream.map((row) => row.slice(start, start + config.segmentLength)), undefined, 'int32'),
          targets: tf.tensor2d(stream.map((row) => row.slice(start + 1, start + 1 + config.segmentLength)), undefined, 'int32'),
        };
      });
      const result = model.trainStep(batches, state, { optimizer });
      expect(result.applied).toBe(true);
      state = result.state;
      for (const batch of batches) tf.dispose([batch.inputs, batch.targets]);
    };
    trainPair(0);
    expectNoLeak(() => {
      for (let index = 1; index < 6; index++) trainPair(index);
    });
    expect(policy.spans().flat().some((span, index) => Math.abs(span - (before[index] as number)) > 1e-3)).toBe(true);
    disposeState(state);
    optimizer.dispose();
    model.dispose();
  });

  test('saveModel / loadModel and saveMemoryState / loadMemoryState resume the stream exactly', async () => {
    const policy = createAdaptiveSpanPolicy({ maxSpan: 20, ramp: 2, buffer: 1 });
    const model = createModel(config, { policy });
    setRatios(policy, [
      [0.2, 0.35],
      [0.1, 0.6],
    ]);
    const stream = tokens(2, 9 * config.segmentLength, 19);
    let state: MemoryState = model.initialState(2);
    for (let index = 0; index < 5; index++) {
      const inputs = segment(stream, index);
      const result = model.forward(inputs, state);
      tf.dispose([inputs, result.logits]);
      state = result.state;
    }
    const directory = await mkdtemp(join(tmpdir(), 'engram-adaptive-span-'));
    try {
      await saveModel(model, directory);
      await saveMemoryState(policy, state, join(directory, 'memory.safetensors'));
      const saved = await readModelConfig(directory);
      expect(Object.keys(saved.tensors)).toContain('policy.layers.1.spanRatio');
      const restoredPolicy = createAdaptiveSpanPolicy(saved.policy.config as unknown as AdaptiveSpanOptions);
      const restored = await loadModel(directory, { policy: restoredPolicy });
      expect(restoredPolicy.spans()).toEqual(policy.spans());
      let restoredState = await loadMemoryState(restoredPolicy, join(directory, 'memory.safetensors'));
      for (let index = 5; index < 9; index++) {
        const inputs = segment(stream, index);
        const a = model.forward(inputs, state);
        const b = restored.forward(inputs, restoredState);
        expectClose(b.logits, a.logits, { atol: 1e-6, rtol: 1e-6, message: `segment ${index}` });
        tf.dispose([inputs, a.logits, b.logits]);
        state = a.state;
        restoredState = b.state;
      }
      disposeState(restoredState);
      restored.dispose();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    disposeState(state);
    model.dispose();
  });
});
