// Tests of defineMemoryPolicy's stateMeta / restoreStateMeta pair: policy-level values saved with a state come back on restore.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { defineMemoryPolicy } from './define.js';
import { disposeState } from './state.js';

const dimensions = { numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 2 };

/** A FIFO-like policy that counts something of its own and saves the count with every state. */
function countingPolicy(): { policy: ReturnType<typeof defineMemoryPolicy>; count: { value: number } } {
  const count = { value: 0 };
  const policy = defineMemoryPolicy({
    kind: 'counting',
    config: () => ({}),
    temporalRange: (numLayers) => numLayers * 2,
    memoryLength: () => 2,
    stateMeta: () => ({ count: count.value }),
    restoreStateMeta(meta): void {
      if (typeof meta.count !== 'number') throw new Error(`meta.count must be a number, got ${String(meta.count)}`);
      count.value = meta.count;
    },
  });
  policy.build(dimensions);
  return { policy, count };
}

describe('defineMemoryPolicy state meta', () => {
  test('restoreStateMeta receives what stateMeta saved, after the layers were checked', () => {
    const saver = countingPolicy();
    saver.count.value = 17;
    const state = saver.policy.initialState(2);
    const serialized = saver.policy.serializeState(state);
    expect(serialized.meta.count).toBe(17);
    const loader = countingPolicy();
    const restored = loader.policy.deserializeState(serialized);
    expect(loader.count.value).toBe(17);
    disposeState(restored);
    disposeState(state);
    tf.dispose(Object.values(serialized.tensors));
    saver.policy.dispose();
    loader.policy.dispose();
  });

  test('a throw from restoreStateMeta refuses the state and disposes what was restored', () => {
    const saver = countingPolicy();
    const hidden = tf.ones([1, 2, 3]) as tf.Tensor3D;
    const positions = tf.tensor2d([[0, 1]], [1, 2], 'int32');
    const state = { ...saver.policy.initialState(1), tokensSeen: 2 };
    const serialized = saver.policy.serializeState({
      ...state,
      layers: state.layers.map(() => ({ hidden, positions, extra: {} })),
    });
    const loader = countingPolicy();
    const before = tf.memory().numTensors;
    expect(() => loader.policy.deserializeState({ ...serialized, meta: { ...serialized.meta, count: 'many' } })).toThrow(/meta\.count must be a number, got many/);
    expect(tf.memory().numTensors).toBe(before);
    expect(loader.count.value).toBe(0);
    tf.dispose([hidden, positions, ...Object.values(serialized.tensors)]);
    saver.policy.dispose();
    loader.policy.dispose();
  });
});
