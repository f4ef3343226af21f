// Expire-Span inside the real model (SPEC 4 with SPEC 2): lossless pruning, equality with FIFO, streaming, training, leaks.
import * as tf from '@tensorflow/tfjs';
import { expectClose, expectNoLeak } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { MemoryState } from '@engram/memory';
import { createAdam, createModel } from '@engram/model';
import { expectReloadResumesStream } from '@engram/model/testing';
import type { MemoryTransformer, ModelConfig } from '@engram/model';
import { congruentialTokens, runSegments, segmentTokens, smallModelConfig, streamLogits, trainSegmentsWithoutLeak } from '@engram/memory/testing';
import { describe, expect, test, vi } from 'vitest';
import { createExpireSpanPolicy } from './policy.js';
import type { ExpireSpanOptions, ExpireSpanPolicy } from './policy.js';
import { createExpireSpanPolicy as recreate } from './index.js';

const config: ModelConfig = smallModelConfig(3);
const { segmentLength } = config;

/** `[rows][length]` pseudo-random tokens in [0, vocab). */
const tokens = (rows: number, length: number, seed: number): number[][] => congruentialTokens(rows, length, config.vocabSize, seed);

const segment = (stream: number[][], index: number): tf.Tensor2D => segmentTokens(stream, index, segmentLength);

/** Copies every variable of `source` (model and policy) into `target`, by stable name. */
function copyWeights(source: MemoryTransformer, target: MemoryTransformer, only?: (name: string) => boolean): void {
  const from = source.namedVariables();
  const to = target.namedVariables();
  for (const [name, variable] of Object.entries(to)) {
    if (only && !only(name)) continue;
    const value = from[name];
    if (!value) throw new Error(`copyWeights: ${name} missing in the source model`);
    variable.assign(value);
  }
}

/** Span predictors that give a mix of short and long spans (so memories expire at different times). */
function mixedSpans(policy: ExpireSpanPolicy): void {
  tf.tidy(() => {
    for (let layer = 0; layer < config.numLayers; layer++) {
      const predictor = policy.spanPredictor(layer);
      predictor.weight.assign(tf.randomNormal([config.modelDim], 0, 2, 'float32', 40 + layer) as tf.Tensor1D);
      predictor.bias.assign(tf.scalar(-0.5));
    }
  });
}

/** Runs `segments` segments through `forward` (evaluation) and returns the logits of each, plus memory sizes. */
function run(
  model: MemoryTransformer,
  stream: number[][],
  segments: number,
): { logits: number[][]; slots: number[][]; contiguous: boolean[] } {
  const contiguous: boolean[] = [];
  const { logits, observed } = runSegments(model, stream, {
    to: segments,
    segmentLength,
    observe: (state) => {
      const slots = model.policy.telemetry(state).memorySlots;
      for (let layer = 0; layer < config.numLayers; layer++) contiguous.push(model.policy.read(state, layer).contiguous);
      return slots;
    },
  });
  return { logits, slots: observed, contiguous };
}

function makeModel(options: Partial<ExpireSpanOptions>): { model: MemoryTransformer; policy: ExpireSpanPolicy } {
  const policy = createExpireSpanPolicy({ maxSpan: 8, ramp: 2, ...options });
  return { model: createModel(config, { policy }), policy };
}

describe('Expire-Span in the model', () => {
  test('pruning is lossless: same logits as keeping every memory and only masking, with a smaller memory', () => {
    const pruned = makeModel({ prune: true });
    const kept = makeModel({ prune: false });
    mixedSpans(pruned.policy);
    copyWeights(pruned.model, kept.model);
    const stream = tokens(2, 12 * segmentLength, 7);
    const a = run(pruned.model, stream, 12);
    const b = run(kept.model, stream, 12);
    a.logits.forEach((logits, index) => expectClose(logits, b.logits[index] as number[], { atol: 1e-5, rtol: 1e-5, message: `segment ${index}` }));
    // The memory that keeps everything grows by T per segment; the pruned one really is smaller.
    expect(b.slots[11]).toEqual([48, 48]);
    const prunedLast = a.slots[11] as number[];
    expect(Math.max(...prunedLast)).toBeLessThan(48);
    // Rows dropped different memories at some point, so the gather path (true distances) was exercised.
    expect(a.contiguous).toContain(false);
    // Bounded as the README says: fewer than Lmax + R + 2T slots after every write.
    for (const slots of a.slots) for (const count of slots) expect(count).toBeLessThan(8 + 2 + 2 * segmentLength);
    pruned.model.dispose();
    kept.model.dispose();
  });

  test('after pruning the view says its oldest position and the model hands attention the distance bound: same logits, one host read less per gather layer', () => {
    const { model, policy } = makeModel({});
    mixedSpans(policy);
    const stream = tokens(2, 12 * segmentLength, 7);
    // Warm-up: attention fills its host cache of sinusoid rows once per process (one read).
    run(model, stream, 3);
    /** One pass over the stream; `strip` removes oldestPosition from every view (as a policy that does not set it). */
    const pass = (strip: boolean): { logits: number[][]; reads: number; tableCalls: number; sparseViews: number } => {
      const read = policy.read.bind(policy);
      const spy = strip
        ? vi.spyOn(policy, 'read').mockImplementation((state, layer) => {
            const { oldestPosition: _dropped, ...view } = read(state, layer);
            return view;
          })
        : undefined;
      const readSync = vi.spyOn(tf.engine(), 'readSync');
      const logits: number[][] = [];
      let state: MemoryState = model.initialState(2);
      let reads = 0;
      let tableCalls = 0;
      let sparseViews = 0;
      try {
        for (let index = 0; index < 12; index++) {
          // What the forward pass will read: per gather layer, the bound it should get and whether its table fits (<= 2K rows).
          for (let layer = 0; layer < config.numLayers; layer++) {
            const view = read(state, layer);
            if (view.contiguous || !view.positions) continue;
            sparseViews++;
            const smallest = Math.min(...Array.from(view.positions.dataSync()));
            expect(view.oldestPosition).toBe(smallest);
            const bound = state.tokensSeen + segmentLength - 1 - smallest;
            if (bound + 1 <= 2 * (view.positions.shape[1] + segmentLength)) tableCalls++;
          }
          readSync.mockClear();
          const inputs = segment(stream, index);
          const result = model.forward(inputs, state);
          reads += readSync.mock.calls.length;
          logits.push(Array.from(result.logits.dataSync()));
          tf.dispose([inputs, result.logits]);
          state = result.state;
        }
      } finally {
        readSync.mockRestore();
        spy?.mockRestore();
      }
      disposeState(state);
      return { logits, reads, tableCalls, sparseViews };
    };
    const bounded = pass(false);
    const unbounded = pass(true);
    bounded.logits.forEach((logits, index) => expectClose(logits, unbounded.logits[index] as number[], { atol: 1e-5, rtol: 1e-5, message: `segment ${index}` }));
    // Pruning made sparse views, and each one whose table fits skipped attention's read of the distance index.
    expect(bounded.sparseViews).toBeGreaterThan(0);
    expect(bounded.tableCalls).toBeGreaterThan(0);
    expect(unbounded.reads - bounded.reads).toBe(bounded.tableCalls);
    expectNoLeak(() => pass(false));
    model.dispose();
  });

  test('with spans at the maximum and Lmax beyond the stream, Expire-Span equals FIFO holding everything', () => {
    const expire = makeModel({ maxSpan: 100, ramp: 4 });
    tf.tidy(() => {
      for (let layer = 0; layer < config.numLayers; layer++) expire.policy.spanPredictor(layer).bias.assign(tf.scalar(30));
    });
    const fifo = createModel(config, { policy: createFifoPolicy({ memoryLength: 100 }) });
    copyWeights(expire.model, fifo, (name) => !name.startsWith('policy.'));
    const stream = tokens(2, 8 * segmentLength, 11);
    const a = run(expire.model, stream, 8);
    const b = run(fifo, stream, 8);
    a.logits.forEach((logits, index) => expectClose(logits, b.logits[index] as number[], { atol: 1e-5, rtol: 1e-5, message: `segment ${index}` }));
    expect(a.slots[7]).toEqual([32, 32]);
    expire.model.dispose();
    fifo.dispose();
  });

  test('token-by-token streaming equals teacher-forced logits, with pruning', () => {
    const { model, policy } = makeModel({});
    mixedSpans(policy);
    const stream = tokens(1, 6 * segmentLength, 5);
    const teacher = run(model, stream, 6).logits.flat();
    expectClose(streamLogits(model, stream[0] as number[]), teacher, { atol: 1e-4, rtol: 1e-4 });
    model.dispose();
  });

  test('training: the loss falls, the span predictor learns, and 50 steps leak no tensor', () => {
    const { model, policy } = makeModel({ maxSpan: 12, ramp: 2, alpha: 1e-3, noise: true, seed: 2 });
    const optimizer = createAdam({ learningRate: 1e-2 });
    const stream = tokens(2, 51 * segmentLength + 1, 9);
    const before = Array.from(policy.variables(), (variable) => variable.dataSync().slice());
    const losses: number[] = [];
    let maxSlots = 0;
    // The first step creates Adam's moment slots (they live as long as the optimizer), then 50 steps must not grow.
    const state = trainSegmentsWithoutLeak(model, stream, {
      steps: 51,
      segmentLength,
      optimizer,
      afterStep: (result) => {
        expect(Number.isFinite(result.auxiliaryLoss)).toBe(true);
        losses.push(result.taskLoss);
        maxSlots = Math.max(maxSlots, ...policy.telemetry(result.state).memorySlots);
      },
    });
    disposeState(state);
    const early = losses.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
    const late = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    expect(late).toBeLessThan(early);
    const moved = policy.variables().some((variable, index) => {
      const initial = before[index] as Float32Array;
      return Array.from(variable.dataSync()).some((value, element) => Math.abs(value - (initial[element] as number)) > 1e-4);
    });
    expect(moved).toBe(true);
    // Memory is bounded by the spans, not by the stream (204 tokens).
    expect(maxSlots).toBeLessThan(12 + 2 + 2 * segmentLength);
    optimizer.dispose();
    model.dispose();
  });

  test('BPTT (two segments in one gradient) works with pruning on wasm without extra kernels, and leaks nothing', () => {
    const { model, policy } = makeModel({});
    mixedSpans(policy);
    const optimizer = createAdam({ learningRate: 1e-2 });
    const stream = tokens(2, 16 * segmentLength + 1, 21);
    const contiguous: boolean[] = [];
    const state = trainSegmentsWithoutLeak(model, stream, {
      steps: 8,
      unroll: 2,
      segmentLength,
      optimizer,
      afterStep: (result) => {
        expect(Number.isFinite(result.loss)).toBe(true);
        for (let layer = 0; layer < config.numLayers; layer++) contiguous.push(policy.read(result.state, layer).contiguous);
      },
    });
    // Rows pruned different memories inside the unrolled computation (the gather path ran under the tape).
    expect(contiguous).toContain(false);
    disposeState(state);
    optimizer.dispose();
    model.dispose();
  });

  test('encodeModel / decodeModel and encodeMemoryState / decodeMemoryState (what saveModel and saveMemoryState write) resume a pruned stream exactly', () => {
    const { model, policy } = makeModel({ noise: true, seed: 4 });
    mixedSpans(policy);
    const stream = tokens(2, 10 * segmentLength, 17);
    const state = expectReloadResumesStream({
      model, policy, stream, segmentLength, saveAfter: 6, to: 10,
      recreatePolicy: (config) => recreate(config as unknown as ExpireSpanOptions),
      check: (reloaded, original) => {
        expect(Object.keys(reloaded.saved.tensors)).toContain('policy.layers.1.spanPredictor.weight');
        expect(reloaded.policy.config()).toEqual(policy.config());
        for (let layer = 0; layer < config.numLayers; layer++) {
          expect(reloaded.policy.read(reloaded.state, layer).contiguous).toBe(policy.read(original.state, layer).contiguous);
        }
      },
    });
    disposeState(state);
    model.dispose();
  });
});
