// maskedSoftmax against a loop reference; fully masked rows give zeros and finite gradients.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { offset, randomTensor, seededRandom } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { maskedSoftmax } from './masked-softmax.js';

const shape = [2, 2, 3, 4];
const [batch, heads, queries, keys] = shape as [number, number, number, number];

/** mask [B, 1, T, K]: random 0/1, row (b=1, i=2) fully hidden, every other row has a visible key. */
function makeMask(): tf.Tensor {
  const random = seededRandom(7);
  const values: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < queries; i++)
      for (let j = 0; j < keys; j++) values.push(b === 1 && i === 2 ? 0 : j === 0 || random() < 0.6 ? 1 : 0);
  return tf.tensor4d(values, [batch, 1, queries, keys]);
}

/** softMask [B, 1, T, K] in {0} U [0.2, 1]. */
function makeSoftMask(withZeros: boolean): tf.Tensor {
  const random = seededRandom(8);
  const values = Array.from({ length: batch * queries * keys }, (_, flat) =>
    withZeros && flat % 5 === 3 ? 0 : 0.2 + 0.8 * random(),
  );
  return tf.tensor4d(values, [batch, 1, queries, keys]);
}

function reference(scores: tf.Tensor, mask?: tf.Tensor, softMask?: tf.Tensor): number[] {
  const s = scores.dataSync();
  const m = mask?.dataSync();
  const soft = softMask?.dataSync();
  const out: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < queries; i++) {
        const maskAt = (j: number) => offset([batch, 1, queries, keys], b, 0, i, j);
        const visible = Array.from(
          { length: keys },
          (_, j) => (m === undefined || m[maskAt(j)] === 1) && (soft === undefined || (soft[maskAt(j)] as number) > 0),
        );
        const row = Array.from({ length: keys }, (_, j) => s[offset(shape, b, h, i, j)] as number);
        const max = Math.max(...row.filter((_, j) => visible[j]));
        const exps = row.map((value, j) => (visible[j] ? Math.exp(value - max) : 0));
        const total = exps.reduce((a, c) => a + c, 0);
        let probabilities = exps.map((value) => (total > 0 ? value / total : 0));
        if (soft !== undefined) {
          const weighted = probabilities.map((p, j) => p * (soft[maskAt(j)] as number));
          const sum = weighted.reduce((a, c) => a + c, 0);
          probabilities = weighted.map((w) => w / (sum + 1e-8));
        }
        out.push(...probabilities);
      }
  return out;
}

test('without masks it is the softmax over the last axis', () => {
  const scores = randomTensor(shape, 1, -3, 3);
  const output = maskedSoftmax(scores);
  expectClose(output.reshape([-1]), reference(scores), { atol: 1e-6 });
  tf.dispose([scores, output]);
});

test('hard mask: hidden keys get zero, a fully hidden row is exactly zero', () => {
  const scores = randomTensor(shape, 2, -3, 3);
  const mask = makeMask();
  const output = maskedSoftmax(scores, { mask });
  expectClose(output.reshape([-1]), reference(scores, mask), { atol: 1e-6 });
  const hiddenRow = output.slice([1, 0, 2, 0], [1, heads, 1, keys]);
  expect(Array.from(hiddenRow.dataSync())).toEqual(new Array(heads * keys).fill(0));
  tf.dispose([scores, mask, output, hiddenRow]);
});

test('soft mask: zeros hide keys, the rest is renormalised after softmax (SPEC 4)', () => {
  const scores = randomTensor(shape, 3, -3, 3);
  const mask = makeMask();
  const softMask = makeSoftMask(true);
  const output = maskedSoftmax(scores, { mask, softMask });
  expectClose(output.reshape([-1]), reference(scores, mask, softMask), { atol: 1e-6 });
  const onlySoft = maskedSoftmax(scores, { softMask });
  expectClose(onlySoft.reshape([-1]), reference(scores, undefined, softMask), { atol: 1e-6 });
  expect(output.dataSync().every((value) => Number.isFinite(value))).toBe(true);
  tf.dispose([scores, mask, softMask, output, onlySoft]);
});

test('gradients match finite differences (scores with both masks; soft mask values)', () => {
  const scores = randomTensor([1, 1, 3, 4], 4, -2, 2);
  const weights = randomTensor([2, 2, 3, 4], 5);
  const smallWeights = weights.slice([0, 0, 0, 0], [1, 1, 3, 4]);
  const mask = makeMask().slice([1, 0, 0, 0], [1, 1, 3, 4]); // includes the fully hidden row
  const softWithZeros = makeSoftMask(true).slice([0, 0, 0, 0], [1, 1, 3, 4]);
  checkGradients(
    (s) => tf.sum(tf.mul(maskedSoftmax(s as tf.Tensor, { mask, softMask: softWithZeros }), smallWeights)),
    [scores],
  );
  // Perturbing a soft-mask value of exactly 0 would cross the hide threshold, so check the soft-mask gradient
  // where it is positive everywhere (the hard mask still hides some keys).
  const softPositive = makeSoftMask(false).slice([0, 0, 0, 0], [1, 1, 3, 4]);
  checkGradients(
    (s, m) => tf.sum(tf.mul(maskedSoftmax(s as tf.Tensor, { mask, softMask: m as tf.Tensor }), smallWeights)),
    [scores, softPositive],
  );
  tf.dispose([scores, weights, smallWeights, mask, softWithZeros, softPositive]);
});

test('a fully hidden row has a finite (zero) gradient', () => {
  const scores = randomTensor([1, 1, 2, 3], 6);
  const mask = tf.tensor4d([[[[0, 0, 0], [1, 1, 0]]]]);
  const softMask = tf.tensor4d([[[[0, 0, 0], [0.5, 1, 1]]]]);
  for (const options of [{ mask }, { mask, softMask }, { softMask }]) {
    const [gradScores] = tf.grads((s: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s, options), tf.range(1, 7).reshape([1, 1, 2, 3]))))([scores]);
    const values = Array.from(gradScores!.dataSync());
    expect(values.every((value) => Number.isFinite(value))).toBe(true);
    expect(values.slice(0, 3)).toEqual([0, 0, 0]);
    gradScores!.dispose();
  }
  tf.dispose([scores, mask, softMask]);
});

test('rejects masks that do not broadcast and non-float masks', () => {
  const scores = tf.zeros([1, 2, 3, 4]);
  const wrong = tf.ones([1, 2, 4, 3]);
  const intMask = tf.ones([1, 1, 3, 4], 'int32');
  expect(() => maskedSoftmax(scores, { mask: wrong })).toThrow(InvalidArgumentError);
  expect(() => maskedSoftmax(scores, { mask: wrong })).toThrow(/broadcastable/);
  expect(() => maskedSoftmax(scores, { softMask: intMask })).toThrow(/float32/);
  tf.dispose([scores, wrong, intMask]);
});

test('does not leak (forward and backward)', () => {
  const scores = randomTensor([1, 1, 2, 3], 9);
  const mask = tf.tensor4d([[[[1, 0, 1], [0, 0, 0]]]]);
  const softMask = tf.tensor4d([[[[0.5, 1, 0], [1, 1, 1]]]]);
  expectNoLeak(() => maskedSoftmax(scores, { mask, softMask }).dispose());
  expectNoLeak(() =>
    tf.dispose(tf.grads((s: tf.Tensor, m: tf.Tensor) => tf.sum(maskedSoftmax(s, { mask, softMask: m })))([scores, softMask])),
  );
  tf.dispose([scores, mask, softMask]);
});

test('hard mask only: gradient matches finite differences (the fused path)', () => {
  const scores = randomTensor([2, 2, 3, 4], 9, -2, 2);
  const weights = randomTensor([2, 2, 3, 4], 10);
  const mask = makeMask(); // includes the fully hidden row
  checkGradients((s) => tf.sum(tf.mul(maskedSoftmax(s as tf.Tensor, { mask }), weights)), [scores]);
  tf.dispose([scores, weights, mask]);
});

test('hard mask: forward + backward peak memory stays under 11 score sizes (one taped op, not four)', async () => {
  // Unfused, add / softmax / mul each saved score-sized inputs and the backward pass kept one score-sized
  // gradient per op (peak ~12.8 score sizes here); fused, the softmax is saved once and one gradient is kept.
  const scores = randomTensor([2, 3, 8, 16], 11);
  const mask = tf.cast(tf.greater(randomTensor([1, 1, 8, 16], 12), 0.3), 'float32');
  const weights = tf.range(0, 16);
  const scoreBytes = scores.size * 4;
  const before = tf.memory().numBytes;
  const profile = await tf.profile(() => {
    tf.grad((s: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s, { mask }), weights)))(scores).dispose();
  });
  expect((profile.peakBytes - before) / scoreBytes).toBeLessThan(11);
  tf.dispose([scores, mask, weights]);
});

test('soft mask: forward + backward peak memory stays under 22 score sizes (one taped op)', async () => {
  // Unfused (add, softmax, mul, mul, sum, add, div, each taped) the peak was ~24.5 score sizes here; fused ~20.
  const scores = randomTensor([2, 3, 8, 16], 16);
  const mask = tf.cast(tf.greater(randomTensor([1, 1, 8, 16], 17), 0.3), 'float32');
  const softMask = randomTensor([2, 1, 8, 16], 18, 0.1, 1);
  const weights = tf.range(0, 16);
  const scoreBytes = scores.size * 4;
  const before = tf.memory().numBytes;
  const profile = await tf.profile(() => {
    const loss = (s: tf.Tensor, m: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s, { mask, softMask: m }), weights));
    tf.dispose(tf.grads(loss)([scores, softMask]));
  });
  expect((profile.peakBytes - before) / scoreBytes).toBeLessThan(22);
  tf.dispose([scores, mask, softMask, weights]);
});
