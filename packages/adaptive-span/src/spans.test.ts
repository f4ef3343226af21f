// Tests of the Adaptive-Span formulas (SPEC 5): per-head mask, masked attention, span loss and gradients, memory limit.
import * as tf from '@tensorflow/tfjs';
import { maskedSoftmax } from '@engram/kernels';
import { checkGradients, expectClose, expectNoLeak } from '@engram/kernels/testing';
import { softMaskedAttentionReference } from '@engram/memory/testing';
import { describe, expect, test } from 'vitest';
import { adaptiveSpanLoss, adaptiveSpanMask, headDistances, memoryLimit } from './spans.js';

/** Naive reference of the SPEC 5 mask: loops over every (row, head, query, key). */
function naiveMask(ratios: number[], queries: number[][], keys: number[][], maxSpan: number, ramp: number): number[][][][] {
  return queries.map((queryRow, row) =>
    ratios.map((ratio) =>
      queryRow.map((t) =>
        (keys[row] as number[]).map((tk) => {
          const x = t - tk;
          if (x < 0) return 0;
          return Math.min(1, Math.max(0, (ramp + ratio * maxSpan - x) / ramp));
        }),
      ),
    ),
  );
}

describe('adaptiveSpanMask', () => {
  test('matches a naive reference for every head', () => {
    const ratios = [0.1, 0.45, 1];
    const queries = [[6, 7, 8], [6, 7, 8]];
    const keys = [[0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8]];
    const ratioTensor = tf.tensor1d(ratios);
    const queryTensor = tf.tensor2d(queries, undefined, 'int32');
    const keyTensor = tf.tensor2d(keys, undefined, 'int32');
    const distances = headDistances(queryTensor, keyTensor);
    expect(distances.shape).toEqual([2, 1, 3, 9]);
    const mask = adaptiveSpanMask(ratioTensor, distances, 8, 3);
    expect(mask.shape).toEqual([2, 3, 3, 9]);
    expectClose(mask, naiveMask(ratios, queries, keys, 8, 3), { atol: 1e-6 });
    tf.dispose([ratioTensor, queryTensor, keyTensor, distances, mask]);
  });

  test('masked and renormalised attention equals a naive softmax with the SPEC 5 rule', () => {
    const ratios = [0.2, 0.6];
    const queries = [[4, 5]];
    const keys = [[0, 1, 2, 3, 4, 5]];
    const scoreValues = Array.from({ length: 2 * 2 * 6 }, (_, index) => Math.sin(index * 1.7) * 2);
    const ratioTensor = tf.tensor1d(ratios);
    const queryTensor = tf.tensor2d(queries, undefined, 'int32');
    const keyTensor = tf.tensor2d(keys, undefined, 'int32');
    const scores = tf.tensor4d(scoreValues, [1, 2, 2, 6]);
    const distances = headDistances(queryTensor, keyTensor);
    const softMask = adaptiveSpanMask(ratioTensor, distances, 5, 2);
    const attention = maskedSoftmax(scores, { softMask });
    const m = naiveMask(ratios, queries, keys, 5, 2)[0] as number[][][];
    const expected: number[] = [];
    for (let head = 0; head < 2; head++) {
      for (let query = 0; query < 2; query++) {
        const row = scoreValues.slice((head * 2 + query) * 6, (head * 2 + query + 1) * 6);
        expected.push(...softMaskedAttentionReference(row, (m[head] as number[][])[query] as number[]));
      }
    }
    const flat = m.flat(2);
    expect(flat.some((value) => value > 0 && value < 1)).toBe(true);
    expect(flat.some((value) => value === 0)).toBe(true);
    expectClose(attention, tf.tensor4d(expected, [1, 2, 2, 6]), { atol: 1e-6 });
    tf.dispose([ratioTensor, queryTensor, keyTensor, scores, distances, softMask, attention]);
  });

  test('mask gradient with respect to the ratios matches finite differences (S / R per key on the ramp)', () => {
    const queryTensor = tf.tensor2d([[6, 7]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[0, 1, 2, 3, 4, 5, 6, 7]], undefined, 'int32');
    const distances = headDistances(queryTensor, keyTensor);
    const probe = tf.tensor4d(Array.from({ length: 2 * 2 * 8 }, (_, index) => Math.cos(index)), [1, 2, 2, 8]);
    const ratios = tf.tensor1d([0.23, 0.61]);
    checkGradients((r) => tf.sum(tf.mul(adaptiveSpanMask(r as tf.Tensor1D, distances, 5, 2), probe)), [ratios], {
      epsilon: 1e-3,
    });
    // Head 0: z = 1.15, on the ramp for x in (1.15, 3.15): x = 2, 3 for each of the 2 queries -> 4 keys * S/R.
    const gradient = tf.grad((r: tf.Tensor) => tf.sum(adaptiveSpanMask(r as tf.Tensor1D, distances, 5, 2)))(ratios);
    // Head 1: z = 3.05, ramp x in (3.05, 5.05): x = 4, 5 -> 2 per query, 4 in all.
    expectClose(gradient, [4 * 2.5, 4 * 2.5], { atol: 1e-4 });
    tf.dispose([queryTensor, keyTensor, distances, probe, ratios, gradient]);
  });
});

describe('adaptiveSpanLoss', () => {
  test('equals alpha * S * mean(z / S), computed by hand', () => {
    const ratios = tf.tensor1d([0.25, 0.5, 0.125, 0.125]);
    // mean ratio 0.25; alpha 0.1, S 8: 0.1 * 8 * 0.25 = 0.2.
    const loss = adaptiveSpanLoss(ratios, 0.1, 8);
    expectClose(loss, 0.2, { atol: 1e-7 });
    // Its gradient is alpha * S / H per head: one SGD step of learning rate 1 moves each ratio down by 0.2.
    const gradient = tf.grad((r: tf.Tensor) => adaptiveSpanLoss(r as tf.Tensor1D, 0.1, 8))(ratios);
    expectClose(gradient, [0.2, 0.2, 0.2, 0.2], { atol: 1e-7 });
    tf.dispose([ratios, loss, gradient]);
  });

  test('leaks no tensors', () => {
    const ratios = tf.tensor1d([0.3, 0.7]);
    const queryTensor = tf.tensor2d([[2, 3]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[0, 1, 2, 3]], undefined, 'int32');
    expectNoLeak(() => {
      const distances = headDistances(queryTensor, keyTensor);
      tf.dispose([distances, adaptiveSpanMask(ratios, distances, 4, 1), adaptiveSpanLoss(ratios, 1, 4)]);
    });
    tf.dispose([ratios, queryTensor, keyTensor]);
  });
});

describe('memoryLimit', () => {
  test('keeps ceil(z_max + R) + buffer slots, capped by S', () => {
    expect(memoryLimit(0, 100, 4, 0)).toBe(4);
    expect(memoryLimit(0.255, 100, 4, 0)).toBe(30);
    expect(memoryLimit(0.255, 100, 4, 64)).toBe(94);
    expect(memoryLimit(0.9, 100, 4, 64)).toBe(100);
    // Out-of-range ratios (before clamping) are treated as clamped.
    expect(memoryLimit(-0.5, 100, 4, 1)).toBe(5);
    expect(memoryLimit(1.5, 100, 4, 1)).toBe(100);
  });
});
