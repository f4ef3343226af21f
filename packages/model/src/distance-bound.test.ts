// Tests of the distance bound the model hands to attention: its value from MemoryView.oldestPosition, same results without it, no attention host read, checks.
import * as tf from '@tensorflow/tfjs';
import { RelativeAttention, type AttentionInput } from '@engram/attention';
import { expectClose, expectNoLeak } from '@engram/kernels/testing';
import { defineMemoryPolicy, disposeState, type LayerMemory, type MemoryPolicy } from '@engram/memory';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { ModelInputError } from './errors.js';
import { createAdam, createModel, type MemoryTransformer } from './model.js';
import { columns, randomTokens, tinyConfig } from './test-helpers.js';

const segmentLength = 4;
/** How far back the sparse policy keeps tokens. */
const reach = 12;

/**
 * A sparse memory known on the host: of the last `reach` tokens, row b keeps those whose position has the parity of
 * b (so rows hold different positions, as Expire-Span leaves them after pruning). `oldest` decides what the view
 * says: the true smallest position, nothing, or a given (wrong) value computed from `tokensSeen`.
 */
function sparsePolicy(oldest: 'true' | 'absent' | ((tokensSeen: number) => number)): MemoryPolicy {
  const hostPositions = new WeakMap<LayerMemory, number[][]>();
  return defineMemoryPolicy({
    kind: 'parity-sparse',
    config: () => ({}),
    temporalRange: (numLayers) => numLayers * reach,
    read: (memory, _layer, state) => {
      const rows = hostPositions.get(memory);
      const view = { hidden: memory.hidden, positions: memory.positions, contiguous: false };
      if (!rows || oldest === 'absent') return view;
      const oldestPosition = oldest === 'true' ? Math.min(...rows.flat()) : oldest(state.tokensSeen);
      return { ...view, oldestPosition };
    },
    writeLayer: ({ memory, input, nextTokensSeen, state }) => {
      const batch = input.shape[0];
      const old = hostPositions.get(memory) ?? Array.from({ length: batch }, () => []);
      const segment = Array.from({ length: nextTokensSeen - state.tokensSeen }, (_, index) => state.tokensSeen + index);
      const keep = old.map((row, b) =>
        [...row, ...segment]
          .map((position, slot) => ({ position, slot }))
          .filter(({ position }) => position >= nextTokensSeen - reach && position % 2 === b % 2),
      );
      const hidden = tf.tidy(() => {
        const all = memory.hidden ? tf.concat([memory.hidden, input], 1) : input;
        return tf.stack(
          keep.map((row, b) => tf.gather(tf.squeeze(tf.slice(all, [b, 0, 0], [1, -1, -1]), [0]), row.map(({ slot }) => slot))),
        ) as tf.Tensor3D;
      });
      const rows = keep.map((row) => row.map(({ position }) => position));
      const next: LayerMemory = { hidden, positions: tf.tensor2d(rows, undefined, 'int32'), extra: {} };
      hostPositions.set(next, rows);
      return next;
    },
  });
}

/** Records every attention call's `maxDistance` (and whether it took the gather path). */
function spyAttention(): { calls: { contiguous: boolean; keys: number; maxDistance: number | undefined }[] } {
  const calls: { contiguous: boolean; keys: number; maxDistance: number | undefined }[] = [];
  const apply = RelativeAttention.prototype.apply;
  vi.spyOn(RelativeAttention.prototype, 'apply').mockImplementation(function (this: RelativeAttention, input: AttentionInput) {
    calls.push({ contiguous: input.contiguous, keys: input.keys.shape[1], maxDistance: input.maxDistance });
    return apply.call(this, input);
  });
  return { calls };
}

/** Runs `segments` segments of `tokens` through `forward`; returns the logits and the host reads made during the run. */
function stream(model: MemoryTransformer, tokens: number[][], segments: number): { logits: number[][]; reads: number } {
  const readSync = vi.spyOn(tf.engine(), 'readSync');
  const logits: number[][] = [];
  let state = model.initialState(tokens.length);
  let reads = 0;
  try {
    for (let index = 0; index < segments; index++) {
      const inputs = columns(tokens, index * segmentLength, (index + 1) * segmentLength);
      const result = model.forward(inputs, state);
      inputs.dispose();
      state = result.state;
      reads += readSync.mock.calls.length;
      logits.push(Array.from(result.logits.dataSync()));
      readSync.mockClear();
      result.logits.dispose();
    }
  } finally {
    readSync.mockRestore();
  }
  disposeState(state);
  return { logits, reads };
}

const config = tinyConfig({ segmentLength, numLayers: 2, seed: 5 });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the distance bound the model hands to attention (maxDistance)', () => {
  test('newest query - oldest memory position on every gather call; the same logits as without it, with no attention host read', () => {
    const bounded = createModel(config, { policy: sparsePolicy('true') });
    const unbounded = createModel(config, { policy: sparsePolicy('absent') });
    const tokens = randomTokens(3, 6 * segmentLength, config.vocabSize, 9);
    // Warm-up: attention fills its host cache of sinusoid rows once per process (one read).
    stream(bounded, tokens, 2);
    const { calls } = spyAttention();
    const withBound = stream(bounded, tokens, 6);
    const boundCalls = calls.splice(0);
    const withoutBound = stream(unbounded, tokens, 6);
    // Segment s starts at 4s; its newest query is 4s + 3. Memory keeps the parity tokens of the last 12: the oldest
    // is max(0, 4s - 12), so the bound is 3 without memory, then 7, 11, 15, 15, 15 (K = 4 + 2, 4, 6, 6, 6 memories).
    const expected = [0, 1, 2, 3, 4, 5].map((s) => (s === 0 ? 3 : 4 * s + 3 - Math.max(0, 4 * s - 12)));
    expect(boundCalls.map((call) => call.maxDistance)).toEqual(expected.flatMap((value) => [value, value]));
    expect(calls.map((call) => call.maxDistance)).toEqual([3, 3, ...new Array(10).fill(undefined)]);
    withBound.logits.forEach((logits, index) =>
      expectClose(logits, withoutBound.logits[index] as number[], { atol: 1e-6, rtol: 1e-5, message: `segment ${index}` }),
    );
    // Without the bound each gather call with memory reads the distance index once (clamp 1000 > 2K): 2 layers x 5 segments.
    expect(withoutBound.reads - withBound.reads).toBe(10);
    expectNoLeak(() => stream(bounded, tokens, 3));
    bounded.dispose();
    unbounded.dispose();
  });

  test.each([false, true])('training (recomputeBlocks %s): the same loss and updated weights with and without the bound', (recomputeBlocks) => {
    const trainConfig = { ...config, recomputeBlocks };
    const models = [createModel(trainConfig, { policy: sparsePolicy('true') }), createModel(trainConfig, { policy: sparsePolicy('absent') })];
    const tokens = randomTokens(2, 4 * segmentLength + 1, config.vocabSize, 13);
    const { calls } = spyAttention();
    const results = models.map((model) => {
      const optimizer = createAdam({ learningRate: 1e-2 });
      let state = model.initialState(2);
      const losses: number[] = [];
      for (let index = 0; index < 4; index++) {
        const inputs = columns(tokens, index * segmentLength, (index + 1) * segmentLength);
        const targets = columns(tokens, index * segmentLength + 1, (index + 1) * segmentLength + 1);
        const result = model.trainStep({ inputs, targets }, state, { optimizer });
        losses.push(result.taskLoss);
        state = result.state;
        tf.dispose([inputs, targets]);
      }
      disposeState(state);
      optimizer.dispose();
      return { losses, weights: Object.values(model.namedVariables()).map((variable) => Array.from(variable.dataSync())) };
    });
    expect(calls.some((call) => !call.contiguous && call.maxDistance === 15)).toBe(true);
    expectClose(results[0]!.losses, results[1]!.losses, { atol: 1e-5, rtol: 1e-5, message: 'losses' });
    results[0]!.weights.forEach((weights, index) => expectClose(weights, results[1]!.weights[index] as number[], { atol: 1e-5, rtol: 1e-4, message: `variable ${index}` }));
    for (const model of models) model.dispose();
  });

  test.each([
    ['the segment start (not before the segment)', (tokensSeen: number) => tokensSeen],
    ['a fraction', (tokensSeen: number) => tokensSeen - 2.5],
  ])('rejects an oldestPosition that cannot be right: %s', (_, wrong) => {
    const model = createModel(config, { policy: sparsePolicy(wrong) });
    const tokens = randomTokens(2, 2 * segmentLength, config.vocabSize, 3);
    let state = model.initialState(2);
    const first = columns(tokens, 0, segmentLength);
    const result = model.forward(first, state);
    state = result.state;
    const second = columns(tokens, segmentLength, 2 * segmentLength);
    const before = tf.memory().numTensors;
    expect(() => model.forward(second, state)).toThrow(ModelInputError);
    expect(() => model.forward(second, state)).toThrow(/oldestPosition .* at most 3 .*leave oldestPosition out/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([first, second, result.logits]);
    disposeState(state);
    model.dispose();
  });
});
