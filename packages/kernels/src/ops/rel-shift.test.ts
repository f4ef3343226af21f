// relShift against a direct index formula and against the meaning "score of distance M+i-j".
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { randomTensor, offset } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { relShift } from './rel-shift.js';

test('out[b,h,i,j] = in[b,h,i, j + T-1-i] on and below the causal diagonal', () => {
  const shape = [2, 3, 4, 7]; // memory M = 3
  const [batch, heads, queries, keys] = shape as [number, number, number, number];
  const memory = keys - queries;
  const input = randomTensor(shape, 1) as tf.Tensor4D;
  const output = relShift(input);
  expect(output.shape).toEqual(shape);
  const inValues = input.dataSync();
  const outValues = output.dataSync();
  let checked = 0;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < queries; i++)
        for (let j = 0; j <= memory + i; j++) {
          expect(outValues[offset(shape, b, h, i, j)]).toBe(inValues[offset(shape, b, h, i, j + queries - 1 - i)]);
          checked++;
        }
  expect(checked).toBe(batch * heads * (queries * (memory + 1) + (queries * (queries - 1)) / 2));
  tf.dispose([input, output]);
});

test('aligns the term of distance K-1-j\' with the key at distance M+i-j from query i', () => {
  const queries = 3;
  const keys = 5;
  const memory = keys - queries;
  // in[i, j'] = 100 * i + distance(j') so the expected value at (i, j) is 100 * i + (M + i - j).
  const values: number[] = [];
  for (let i = 0; i < queries; i++) for (let column = 0; column < keys; column++) values.push(100 * i + keys - 1 - column);
  const input = tf.tensor4d(values, [1, 1, queries, keys]);
  const output = relShift(input).arraySync()[0]?.[0] as number[][];
  for (let i = 0; i < queries; i++)
    for (let j = 0; j <= memory + i; j++) expect(output[i]?.[j]).toBe(100 * i + memory + i - j);
  input.dispose();
});

test('works without memory (K = T) and rejects K < T', () => {
  const input = randomTensor([1, 2, 3, 3], 2) as tf.Tensor4D;
  const output = relShift(input);
  const a = input.arraySync();
  const o = output.arraySync();
  for (let i = 0; i < 3; i++) for (let j = 0; j <= i; j++) expect(o[0]?.[1]?.[i]?.[j]).toBe(a[0]?.[1]?.[i]?.[j + 2 - i]);
  const tooFewKeys = tf.zeros([1, 1, 4, 3]) as tf.Tensor4D;
  expect(() => relShift(tooFewKeys)).toThrow(InvalidArgumentError);
  expect(() => relShift(tf.zeros([4, 3]) as unknown as tf.Tensor4D)).toThrow(/rank-4/);
  tf.dispose([input, output, tooFewKeys]);
});

test('gradient (through pad, reshape and slice) matches finite differences on the causal part', () => {
  const shape = [1, 2, 3, 5];
  const input = randomTensor(shape, 3);
  const weights = randomTensor(shape, 4);
  const causal = tf.tensor4d(
    Array.from({ length: 2 * 3 * 5 }, (_, flat) => {
      const i = Math.floor(flat / 5) % 3;
      const j = flat % 5;
      return j <= 2 + i ? 1 : 0;
    }),
    [1, 2, 3, 5],
  );
  checkGradients((x) => tf.sum(tf.mul(tf.mul(relShift(x as tf.Tensor4D), weights), causal)), [input]);
  tf.dispose([input, weights, causal]);
});

test('does not leak (forward and backward)', () => {
  const input = randomTensor([1, 1, 2, 4], 5) as tf.Tensor4D;
  expectNoLeak(() => relShift(input).dispose());
  expectNoLeak(() => tf.grad((x: tf.Tensor) => tf.sum(relShift(x as tf.Tensor4D)))(input).dispose());
  input.dispose();
});

test('gradient is the exact adjoint, above the causal diagonal too', () => {
  const input = randomTensor([1, 2, 3, 5], 6);
  const weights = randomTensor([1, 2, 3, 5], 7);
  checkGradients((x) => tf.sum(tf.mul(relShift(x as tf.Tensor4D), weights)), [input]);
  tf.dispose([input, weights]);
});

test('the gradient tapes no score-sized views: peak memory of forward + backward stays under 8 score sizes', async () => {
  // The four views (pad, reshape, slice, reshape) used to be taped: each saved a copy of its input for the
  // backward pass and the backward pass kept four score-sized gradients (peak ~11.3 score sizes here). Now
  // the transient forward views dominate (~7.1): input, the views, the output; the backward keeps one gradient.
  const input = randomTensor([2, 3, 8, 16], 8) as tf.Tensor4D;
  const scoreBytes = input.size * 4;
  const before = tf.memory().numBytes;
  const profile = await tf.profile(() => {
    tf.grad((x: tf.Tensor) => tf.sum(relShift(x as tf.Tensor4D)))(input).dispose();
  });
  expect((profile.peakBytes - before) / scoreBytes).toBeLessThan(8);
  input.dispose();
});
