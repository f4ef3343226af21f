// Tests of the shared memory state helpers: FIFO append, ownership, serialization.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { MemorySerializationError, MemoryStateError } from './errors.js';
import type { MemoryState } from './policy.js';
import { appendToMemory, deserializeLayers, disposeState, disposeStateExcept, emptyLayerMemory, keepState, serializeLayers, stateTensors } from './state.js';

function block(batch: number, start: number, length: number, dim: number): { hidden: tf.Tensor3D; positions: tf.Tensor2D } {
  // hidden[b, i, :] = 100 * b + position, so slots are recognisable after concat/slice.
  const hidden = tf.tidy(() => {
    const positions = tf.range(start, start + length).reshape([1, length, 1]);
    const rows = tf.range(0, batch).reshape([batch, 1, 1]).mul(100);
    return rows.add(positions).tile([1, 1, dim]) as tf.Tensor3D;
  });
  const positions = tf.tidy(() => tf.range(start, start + length, 1, 'int32').expandDims(0).tile([batch, 1]) as tf.Tensor2D);
  return { hidden, positions };
}

describe('appendToMemory', () => {
  test('concatenates and keeps the newest slots, returning the evicted ones', () => {
    const before = tf.memory().numTensors;
    const old = block(2, 0, 3, 4);
    const fresh = block(2, 3, 2, 4);
    const result = appendToMemory(old.hidden, old.positions, fresh.hidden, fresh.positions, 4);
    expect(result.hidden?.shape).toEqual([2, 4, 4]);
    expect(result.positions?.arraySync()).toEqual([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
    expect((result.hidden?.arraySync() as number[][][])[1]?.map((row) => row[0])).toEqual([101, 102, 103, 104]);
    expect(result.evicted?.positions.arraySync()).toEqual([[0], [0]]);
    expect((result.evicted?.hidden.arraySync() as number[][][])[1]?.[0]?.[0]).toBe(100);
    for (const t of [old.hidden, old.positions, fresh.hidden, fresh.positions, result.hidden!, result.positions!]) t.dispose();
    result.evicted?.hidden.dispose();
    result.evicted?.positions.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('starts from empty memory, never returns an argument, and keeps nothing with keepLast 0', () => {
    const before = tf.memory().numTensors;
    const fresh = block(1, 0, 2, 3);
    const grown = appendToMemory(null, null, fresh.hidden, fresh.positions, 5);
    expect(grown.hidden).not.toBe(fresh.hidden);
    expect(grown.positions?.arraySync()).toEqual([[0, 1]]);
    expect(grown.evicted).toBeNull();
    const none = appendToMemory(grown.hidden, grown.positions, fresh.hidden, fresh.positions, 0);
    expect(none.hidden).toBeNull();
    expect(none.positions).toBeNull();
    expect(none.evicted?.positions.arraySync()).toEqual([[0, 1, 0, 1]]);
    for (const t of [fresh.hidden, fresh.positions, grown.hidden!, grown.positions!, none.evicted!.hidden, none.evicted!.positions]) {
      t.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  test('rejects mismatched shapes and bad keepLast with clear errors', () => {
    const a = block(2, 0, 2, 4);
    const b = block(1, 2, 2, 4);
    expect(() => appendToMemory(a.hidden, a.positions, b.hidden, b.positions, 4)).toThrow(MemoryStateError);
    expect(() => appendToMemory(null, null, a.hidden, a.positions, -1)).toThrow(/keepLast/);
    expect(() => appendToMemory(a.hidden, null, a.hidden, a.positions, 2)).toThrow(/both be null/);
    const floatPositions = tf.zeros([2, 2]) as tf.Tensor2D;
    expect(() => appendToMemory(null, null, a.hidden, floatPositions, 2)).toThrow(/int32/);
    for (const t of [a.hidden, a.positions, b.hidden, b.positions, floatPositions]) t.dispose();
  });
});

describe('state ownership helpers', () => {
  test('stateTensors, keepState, disposeStateExcept and disposeState', () => {
    const before = tf.memory().numTensors;
    let first!: MemoryState;
    let second!: MemoryState;
    let shared!: tf.Tensor;
    tf.tidy(() => {
      const a = block(1, 0, 2, 2);
      shared = tf.ones([1]);
      first = keepState({ layers: [{ ...a, extra: { usage: shared } }, emptyLayerMemory()], tokensSeen: 2, batchSize: 1 });
    });
    expect(stateTensors(first)).toHaveLength(3);
    expect(first.layers[0]?.hidden?.isDisposed).toBe(false);
    tf.tidy(() => {
      const b = block(1, 2, 2, 2);
      second = keepState({ layers: [{ ...b, extra: { usage: shared } }, emptyLayerMemory()], tokensSeen: 4, batchSize: 1 });
    });
    disposeStateExcept(first, second);
    expect(first.layers[0]?.hidden?.isDisposed).toBe(true);
    expect(shared.isDisposed).toBe(false);
    disposeState(second);
    expect(shared.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('serializeLayers / deserializeLayers', () => {
  test('round trip keeps tensors, extras, tokensSeen and batchSize; copies are independent', () => {
    const before = tf.memory().numTensors;
    const a = block(2, 3, 2, 3);
    const state: MemoryState = {
      layers: [emptyLayerMemory(), { ...a, extra: { compressed: tf.ones([2, 1, 3]) } }],
      tokensSeen: 5,
      batchSize: 2,
    };
    const serialized = serializeLayers(state, { kind: 'toy' });
    expect(Object.keys(serialized.tensors).sort()).toEqual(['layer1.extra.compressed', 'layer1.hidden', 'layer1.positions']);
    expect(serialized.meta).toMatchObject({ kind: 'toy', tokensSeen: 5, batchSize: 2, numLayers: 2 });
    disposeState(state);
    const restored = deserializeLayers(serialized, { kind: 'toy', numLayers: 2 });
    for (const t of Object.values(serialized.tensors)) t.dispose();
    expect(restored.tokensSeen).toBe(5);
    expect(restored.batchSize).toBe(2);
    expect(restored.layers[0]?.hidden).toBeNull();
    expect(restored.layers[1]?.positions?.arraySync()).toEqual([
      [3, 4],
      [3, 4],
    ]);
    expect(restored.layers[1]?.extra.compressed?.shape).toEqual([2, 1, 3]);
    disposeState(restored);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('rejects a wrong kind, wrong depth, missing halves and unknown tensors', () => {
    const a = block(1, 0, 2, 2);
    const state: MemoryState = { layers: [{ ...a, extra: {} }], tokensSeen: 2, batchSize: 1 };
    const serialized = serializeLayers(state, { kind: 'fifo' });
    expect(() => deserializeLayers(serialized, { kind: 'compressive' })).toThrow(MemorySerializationError);
    expect(() => deserializeLayers(serialized, { numLayers: 3 })).toThrow(/3/);
    expect(() =>
      deserializeLayers({ tensors: { 'layer0.hidden': serialized.tensors['layer0.hidden']! }, meta: serialized.meta }),
    ).toThrow(/positions/);
    expect(() => deserializeLayers({ tensors: serialized.tensors, meta: { ...serialized.meta, tokensSeen: -1 } })).toThrow(
      /tokensSeen/,
    );
    const stray = tf.zeros([1]);
    const before = tf.memory().numTensors;
    expect(() => deserializeLayers({ tensors: { ...serialized.tensors, 'layer7.hidden': stray }, meta: serialized.meta })).toThrow(
      /unexpected tensors/,
    );
    expect(tf.memory().numTensors).toBe(before);
    stray.dispose();
    disposeState(state);
    for (const t of Object.values(serialized.tensors)) t.dispose();
  });
});
