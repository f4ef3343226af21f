// Tests of the Expire-Span formulas (SPEC 4): spans, soft mask, masked attention, span loss and its gradient, pruning plan.
import * as tf from '@tensorflow/tfjs';
import { maskedSoftmax } from '@engram/kernels';
import { checkGradients, expectClose, expectNoLeak } from '@engram/kernels/testing';
import { softMaskedAttentionReference } from '@engram/memory/testing';
import { describe, expect, test } from 'vitest';
import { expireSpanAuxiliaryLoss, expireSpanMask, planPruning, predictSpans, queryKeyDistances } from './spans.js';

/** Deterministic pseudo-random numbers in [-1, 1) for test inputs. */
function numbers(count: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return (state / 2147483648) * 2 - 1;
  });
}

/** Naive reference of the SPEC 4 mask: loops over every (row, query, key). */
function naiveMask(spans: number[][], queries: number[][], keys: number[][], ramp: number): number[][][] {
  return queries.map((queryRow, row) =>
    queryRow.map((t) =>
      (keys[row] as number[]).map((ti, key) => {
        if (ti > t) return 0;
        const remaining = (spans[row] as number[])[key] as number - (t - ti);
        return Math.min(1, Math.max(0, 1 + remaining / ramp));
      }),
    ),
  );
}

describe('predictSpans', () => {
  test('equals maxSpan * sigmoid(w . h / preDiv + b) computed by hand', () => {
    const hiddenValues = numbers(2 * 3 * 4, 1);
    const weightValues = numbers(4, 2);
    const hidden = tf.tensor3d(hiddenValues, [2, 3, 4]);
    const weight = tf.tensor1d(weightValues);
    const bias = tf.scalar(0.3);
    const spans = predictSpans(hidden, weight, bias, 50, 4);
    const expected = [0, 1].map((row) =>
      [0, 1, 2].map((slot) => {
        let dot = 0;
        for (let k = 0; k < 4; k++) dot += (hiddenValues[(row * 3 + slot) * 4 + k] as number) * (weightValues[k] as number);
        return 50 / (1 + Math.exp(-(dot / 4 + 0.3)));
      }),
    );
    expectClose(spans, expected, { atol: 1e-4 });
    tf.dispose([hidden, weight, bias, spans]);
  });

  test('zero weight and bias logit(p) give every memory the span p * maxSpan', () => {
    const hidden = tf.randomNormal([2, 5, 3]) as tf.Tensor3D;
    const weight = tf.zeros([3]) as tf.Tensor1D;
    const bias = tf.scalar(Math.log(0.1 / 0.9));
    const spans = predictSpans(hidden, weight, bias, 40, 1);
    expectClose(spans, tf.fill([2, 5], 4), { atol: 1e-5 });
    tf.dispose([hidden, weight, bias, spans]);
  });
});

describe('expireSpanMask', () => {
  test('matches a naive reference, including non-contiguous keys and future keys', () => {
    const ramp = 3;
    const keys = [
      [0, 3, 4, 9, 10, 11, 12],
      [1, 2, 5, 9, 10, 11, 12],
    ];
    const queries = [
      [9, 10, 11, 12],
      [9, 10, 11, 12],
    ];
    const spans = [numbers(7, 3).map((x) => (x + 1) * 5), numbers(7, 4).map((x) => (x + 1) * 5)];
    const spanTensor = tf.tensor2d(spans);
    const queryTensor = tf.tensor2d(queries, undefined, 'int32');
    const keyTensor = tf.tensor2d(keys, undefined, 'int32');
    const distances = queryKeyDistances(queryTensor, keyTensor);
    const { mask, remaining } = expireSpanMask(spanTensor, distances, ramp);
    expectClose(mask, naiveMask(spans, queries, keys, ramp), { atol: 1e-6 });
    const naiveRemaining = queries.map((row, b) => row.map((t) => (keys[b] as number[]).map((ti, i) => (spans[b] as number[])[i] as number - (t - ti))));
    expectClose(remaining, naiveRemaining, { atol: 1e-5 });
    tf.dispose([spanTensor, queryTensor, keyTensor, distances, mask, remaining]);
  });

  test('masked and renormalised attention equals a naive softmax with the SPEC 4 rule', () => {
    const ramp = 2;
    const keys = [[2, 5, 6, 7, 8, 9]];
    const queries = [[8, 9]];
    const spans = [[1.5, 0.5, 3.2, 1.1, 0.2, 4]];
    const scoreValues = numbers(2 * 2 * 6, 9).map((x) => 2 * x); // [1, H=2, T=2, K=6]
    const spanTensor = tf.tensor2d(spans);
    const queryTensor = tf.tensor2d(queries, undefined, 'int32');
    const keyTensor = tf.tensor2d(keys, undefined, 'int32');
    const scores = tf.tensor4d(scoreValues, [1, 2, 2, 6]);
    const distances = queryKeyDistances(queryTensor, keyTensor);
    const { mask, remaining } = expireSpanMask(spanTensor, distances, ramp);
    const softMask = tf.expandDims(mask, 1);
    const attention = maskedSoftmax(scores, { softMask });

    const m = naiveMask(spans, queries, keys, ramp)[0] as number[][];
    const expected: number[] = [];
    for (let head = 0; head < 2; head++) {
      for (let query = 0; query < 2; query++) {
        const row = scoreValues.slice((head * 2 + query) * 6, (head * 2 + query + 1) * 6);
        // Softmax over the keys with m > 0 only, then a <- m a / (sum m a + 1e-8).
        expected.push(...softMaskedAttentionReference(row, m[query] as number[]));
      }
    }
    // At least one key must be partly masked and one fully masked, or this test proves little.
    const flat = m.flat();
    expect(flat.some((value) => value > 0 && value < 1)).toBe(true);
    expect(flat.some((value) => value === 0)).toBe(true);
    expectClose(attention, tf.tensor4d(expected, [1, 2, 2, 6]), { atol: 1e-6 });
    tf.dispose([spanTensor, queryTensor, keyTensor, scores, distances, mask, remaining, softMask, attention]);
  });

  test('the mask gradient with respect to a span is 1/R on the ramp and 0 elsewhere', () => {
    const ramp = 4;
    const queryTensor = tf.tensor2d([[10, 11, 12, 13, 14, 15, 16, 17]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[8, 9, 17]], undefined, 'int32');
    const spans = tf.tensor2d([[2.5, 30, 0.5]]);
    const distances = queryKeyDistances(queryTensor, keyTensor);
    checkGradients((s) => tf.sum(expireSpanMask(s as tf.Tensor2D, distances, ramp).mask), [spans], { epsilon: 1e-2 });
    const gradient = tf.grad((s: tf.Tensor) => tf.sum(expireSpanMask(s as tf.Tensor2D, distances, ramp).mask))(spans);
    // Key 8 (span 2.5) is on the ramp for queries at distance 3..6 (r = -0.5 .. -3.5): 4 queries, 1/R each.
    // Key 9 (span 30) is fully visible: 0. Key 17 is seen by the last query only, with m = 1: 0.
    expectClose(gradient, [[1, 0, 0]], { atol: 1e-5 });
    tf.dispose([queryTensor, keyTensor, spans, distances, gradient]);
  });
});

describe('expireSpanAuxiliaryLoss', () => {
  test('equals a hand-computed value', () => {
    // One row, R = 2, alpha = 0.5, queries at 4 and 5, keys at 1, 3, 4, 5 with spans 2.5, 0.25, 1, 3.
    // r = e - (t - t_i):
    //   query 4: key1 2.5-3=-0.5 (m .75, ramp), key3 0.25-1=-0.75 (m .625, ramp), key4 1-0=1 (m 1), key5 future
    //   query 5: key1 2.5-4=-1.5 (m .25, ramp), key3 0.25-2=-1.75 (m .125, ramp), key4 1-1=0 (m 1), key5 3 (m 1)
    // Sum of r on the ramp = -0.5 - 0.75 - 1.5 - 1.75 = -4.5; loss = 0.5 / (2 * 2) * -4.5 = -0.5625.
    const spans = tf.tensor2d([[2.5, 0.25, 1, 3]]);
    const queryTensor = tf.tensor2d([[4, 5]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[1, 3, 4, 5]], undefined, 'int32');
    const distances = queryKeyDistances(queryTensor, keyTensor);
    const { mask, remaining } = expireSpanMask(spans, distances, 2);
    expectClose(mask, [[[0.75, 0.625, 1, 0], [0.25, 0.125, 1, 1]]]);
    const loss = expireSpanAuxiliaryLoss(remaining, mask, 0.5, 2);
    expectClose(loss, -0.5625, { atol: 1e-7 });
    tf.dispose([spans, queryTensor, keyTensor, distances, mask, remaining, loss]);
  });

  test('averages over the batch', () => {
    const spans = tf.tensor2d([[2.5, 0.25, 1, 3], [0.5, 9, 9, 9]]);
    const queryTensor = tf.tensor2d([[4, 5], [4, 5]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[1, 3, 4, 5], [1, 3, 4, 5]], undefined, 'int32');
    const distances = queryKeyDistances(queryTensor, keyTensor);
    const { mask, remaining } = expireSpanMask(spans, distances, 2);
    const loss = expireSpanAuxiliaryLoss(remaining, mask, 0.5, 2);
    // Row 2: key1 r = 0.5-3 = -2.5 (m 0, off), 0.5-4 (off); others fully visible: sum 0. Mean of -4.5 and 0.
    expectClose(loss, (0.5 / 4) * (-4.5 / 2), { atol: 1e-7 });
    tf.dispose([spans, queryTensor, keyTensor, distances, mask, remaining, loss]);
  });

  test('one SGD step (learning rate 1) on the loss moves each span on the ramp down by alpha/T', () => {
    // T = 8 queries at 20..27, R = 4. Every memory below passes its whole ramp within the segment, so it is
    // on the ramp for exactly R queries and its gradient is alpha/(R T) * R = alpha/T.
    const alpha = 0.3;
    const ramp = 4;
    const segment = 8;
    const queryTensor = tf.tensor2d([[20, 21, 22, 23, 24, 25, 26, 27]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[12, 14, 17, 19, 27]], undefined, 'int32');
    //  key 12 span 8.5: r = 8.5 - (t - 12) in (-4, 0) for t = 21..24 -> 4 queries.
    //  key 14 span 6.3: on the ramp for t = 21..24.  key 17 span 3.7: t = 21..24.  key 19 span 2.2: t = 22..25.
    //  key 27 span 1.5 is only seen by the query at 27 (r = 1.5, m = 1): never on the ramp, gradient 0.
    const spans = tf.variable(tf.tensor2d([[8.5, 6.3, 3.7, 2.2, 1.5]]));
    const distances = queryKeyDistances(queryTensor, keyTensor);
    const before = spans.dataSync().slice();
    const optimizer = tf.train.sgd(1);
    optimizer.minimize(() => {
      const { mask, remaining } = expireSpanMask(spans, distances, ramp);
      return expireSpanAuxiliaryLoss(remaining, mask, alpha, ramp);
    });
    const after = spans.dataSync();
    const moved = Array.from(after, (value, index) => (before[index] as number) - value);
    expectClose(moved, [alpha / segment, alpha / segment, alpha / segment, alpha / segment, 0], { atol: 1e-6 });
    optimizer.dispose();
    tf.dispose([queryTensor, keyTensor, spans, distances]);
  });

  test('gradient through the span predictor matches finite differences', () => {
    const hidden = tf.tensor3d(numbers(2 * 6 * 3, 11), [2, 6, 3]);
    const queryTensor = tf.tensor2d([[4, 5, 6, 7], [4, 5, 6, 7]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[0, 2, 4, 5, 6, 7], [1, 3, 4, 5, 6, 7]], undefined, 'int32');
    const distances = queryKeyDistances(queryTensor, keyTensor);
    const probe = tf.tensor3d(numbers(2 * 4 * 6, 12), [2, 4, 6]);
    const weight = tf.tensor1d([0.4, -0.7, 0.2]);
    const bias = tf.scalar(-0.4);
    // A task-like term through the mask plus the span loss (alpha large enough to matter in float32).
    const objective = (w: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const spans = predictSpans(hidden, w as tf.Tensor1D, b as tf.Scalar, 8, 2);
      const { mask, remaining } = expireSpanMask(spans, distances, 3);
      return tf.add(tf.sum(tf.mul(mask, probe)), expireSpanAuxiliaryLoss(remaining, mask, 2, 3)) as tf.Scalar;
    };
    checkGradients(objective, [weight, bias], { epsilon: 1e-3, atol: 2e-3, rtol: 1e-2 });
    const [gradientWeight, gradientBias] = tf.grads(objective)([weight, bias]);
    // The check means nothing if the gradients are zero.
    expect(Math.abs((gradientBias as tf.Tensor).dataSync()[0] as number)).toBeGreaterThan(1e-3);
    tf.dispose([hidden, queryTensor, keyTensor, distances, probe, weight, bias, gradientWeight as tf.Tensor, gradientBias as tf.Tensor]);
  });

  test('leaks no tensors', () => {
    const spans = tf.tensor2d([[2.5, 0.25, 1, 3]]);
    const queryTensor = tf.tensor2d([[4, 5]], undefined, 'int32');
    const keyTensor = tf.tensor2d([[1, 3, 4, 5]], undefined, 'int32');
    expectNoLeak(() => {
      const distances = queryKeyDistances(queryTensor, keyTensor);
      const { mask, remaining } = expireSpanMask(spans, distances, 2);
      tf.dispose([distances, mask, remaining, expireSpanAuxiliaryLoss(remaining, mask, 1, 2)]);
    });
    tf.dispose([spans, queryTensor, keyTensor]);
  });
});

describe('planPruning', () => {
  test('drops memories whose span plus ramp no longer reaches the next query', () => {
    // Next query at 10, R = 2: keep iff e - (10 - t) + 2 > 0.
    //   t=0 e=7 -> -1 drop; t=1 e=7 -> 0 drop (not > 0); t=2 e=7 -> 1 keep; t=3 e=1 -> -5 drop.
    const plan = planPruning({
      spans: [7, 7, 7, 1],
      positions: [0, 1, 2, 3],
      batch: 1,
      slots: 4,
      nextQueryPosition: 10,
      ramp: 2,
      blockSize: 1,
    });
    expect(plan.droppableCounts).toEqual([3]);
    expect(plan.dropCount).toBe(3);
    expect(plan.keep).toEqual([[2]]);
  });

  test('drops the same count in every row: the batch minimum rounded down to a multiple of T, oldest droppable first', () => {
    // Row 0: 5 droppable (all but slot 2); row 1: 3 droppable (slots 1, 3, 5). T = 2 -> drop 2 from each row.
    const spans = [0, 0, 100, 0, 0, 0, 100, 0, 100, 0, 100, 0];
    const positions = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5];
    const plan = planPruning({ spans, positions, batch: 2, slots: 6, nextQueryPosition: 20, ramp: 1, blockSize: 2 });
    expect(plan.droppableCounts).toEqual([5, 3]);
    expect(plan.dropCount).toBe(2);
    expect(plan.keep).toEqual([
      [2, 3, 4, 5],
      [0, 2, 4, 5],
    ]);
  });

  test('drops nothing while the minimum is below T', () => {
    const plan = planPruning({
      spans: [0, 0, 0, 0, 100, 100],
      positions: [0, 1, 2, 0, 1, 2],
      batch: 2,
      slots: 3,
      nextQueryPosition: 20,
      ramp: 1,
      blockSize: 2,
    });
    expect(plan.droppableCounts).toEqual([3, 1]);
    expect(plan.dropCount).toBe(0);
    expect(plan.keep).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
  });
});
