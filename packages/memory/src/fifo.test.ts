// Tests of the FIFO (Transformer-XL) memory policy: the conformance suite, eviction, positions, eval length, options.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { MemoryPolicyError } from './errors.js';
import { createFifoPolicy, fifoPolicyDescriptor } from './fifo.js';
import type { MemoryPolicy, MemoryState, SegmentRecord } from './policy.js';
import { disposeState, disposeStateExcept, keepState } from './state.js';
import { testMemoryPolicy, testMemoryPolicyDescriptor } from './testing/index.js';

testMemoryPolicy({ create: () => createFifoPolicy({ memoryLength: 5, evalMemoryLength: 7 }) });
testMemoryPolicyDescriptor(fifoPolicyDescriptor, { memoryLength: 6 });
testMemoryPolicyDescriptor(fifoPolicyDescriptor, { memoryLength: 6, evalMemoryLength: 9 }, { name: 'fifo descriptor with an evaluation length' });
testMemoryPolicy({ create: () => createFifoPolicy({ memoryLength: 0 }), name: 'MemoryPolicy conformance: fifo without memory' });

const dims = { numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 2 };

/** One segment's record: layer l's input at position p of row b is 1000*l + 100*b + p. */
function record(start: number, length: number, batch: number, training: boolean): SegmentRecord {
  const positions = tf.tidy(() => tf.range(start, start + length, 1, 'int32').expandDims(0).tile([batch, 1]) as tf.Tensor2D);
  const layerInputs = [0, 1].map((layer) =>
    tf.tidy(() => {
      const base = tf.range(0, batch).reshape([batch, 1, 1]).mul(100).add(1000 * layer);
      return base.add(tf.range(start, start + length).reshape([1, length, 1])).tile([1, 1, 3]) as tf.Tensor3D;
    }),
  );
  return { layerInputs, positions, contentAttention: [], training };
}

function disposeRecord(r: SegmentRecord): void {
  r.positions.dispose();
  for (const t of r.layerInputs) t.dispose();
}

/** Runs one write the way the model does: keep the new state, dispose what the old one no longer needs. */
function step(policy: MemoryPolicy, state: MemoryState, r: SegmentRecord): MemoryState {
  const next = keepState(policy.write(state, r));
  disposeStateExcept(state, next);
  disposeRecord(r);
  return next;
}

describe('createFifoPolicy', () => {
  test('memory grows to M, then evicts the oldest; positions precede the current segment', () => {
    const policy = createFifoPolicy({ memoryLength: 3 });
    policy.build(dims);
    let state = policy.initialState(2);
    expect(state.tokensSeen).toBe(0);
    expect(policy.read(state, 0)).toEqual({ hidden: null, positions: null, contiguous: true });
    state = step(policy, state, record(0, 2, 2, true));
    expect(policy.read(state, 1).positions?.arraySync()).toEqual([
      [0, 1],
      [0, 1],
    ]);
    state = step(policy, state, record(2, 2, 2, true));
    state = step(policy, state, record(4, 2, 2, true));
    expect(state.tokensSeen).toBe(6);
    const view = policy.read(state, 1);
    expect(view.contiguous).toBe(true);
    // The skeleton's contiguous read knows its oldest position on the host: tokensSeen - slots.
    expect(view.oldestPosition).toBe(3);
    expect(view.positions?.arraySync()).toEqual([
      [3, 4, 5],
      [3, 4, 5],
    ]);
    const hidden = view.hidden?.arraySync() as number[][][];
    expect(hidden[1]?.map((slot) => slot[0])).toEqual([1103, 1104, 1105]);
    expect(policy.telemetry(state)).toEqual({ memorySlots: [3, 3], perLayer: {} });
    disposeState(state);
  });

  test('uses evalMemoryLength when the record is not training', () => {
    const policy = createFifoPolicy({ memoryLength: 2, evalMemoryLength: 5 });
    policy.build(dims);
    let state = policy.initialState(1);
    for (let start = 0; start < 8; start += 2) state = step(policy, state, record(start, 2, 1, false));
    expect(policy.read(state, 0).positions?.arraySync()).toEqual([[3, 4, 5, 6, 7]]);
    state = step(policy, state, record(8, 2, 1, true));
    expect(policy.read(state, 0).positions?.arraySync()).toEqual([[8, 9]]);
    disposeState(state);
  });

  test('memoryLength 0 keeps nothing (a vanilla transformer)', () => {
    const policy = createFifoPolicy({ memoryLength: 0 });
    policy.build(dims);
    let state = policy.initialState(1);
    state = step(policy, state, record(0, 2, 1, true));
    expect(state.layers[0]?.hidden).toBeNull();
    expect(state.tokensSeen).toBe(2);
    expect(policy.temporalRange(2)).toBe(0);
  });

  test('temporal range, config, kind and contract fields', () => {
    const policy = createFifoPolicy({ memoryLength: 4, evalMemoryLength: 8 });
    expect(policy.kind).toBe('fifo');
    expect(policy.specificationVersion).toBe('v1');
    expect(policy.needsAttentionProbabilities).toBe(false);
    expect(policy.temporalRange(3)).toBe(12);
    expect(policy.config()).toEqual({ kind: 'fifo', memoryLength: 4, evalMemoryLength: 8 });
    expect(policy.variables()).toEqual([]);
    expect(policy.separateVariables()).toEqual([]);
  });

  test('clear errors for bad options, and a saved state of another depth is refused', () => {
    expect(() => createFifoPolicy({ memoryLength: -1 })).toThrow(MemoryPolicyError);
    expect(() => createFifoPolicy({ memoryLength: 2.5 })).toThrow(/memoryLength/);
    expect(() => createFifoPolicy({ memoryLength: 2, evalMemoryLength: -3 })).toThrow(/evalMemoryLength/);
    const policy = createFifoPolicy({ memoryLength: 2 });
    policy.build(dims);
    const state = policy.initialState(1);
    const other = createFifoPolicy({ memoryLength: 2 });
    other.build({ ...dims, numLayers: 1 });
    const wrong = policy.serializeState(state);
    expect(() => other.deserializeState(wrong)).toThrow(/layers/);
  });
});
