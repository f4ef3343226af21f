// sinusoidEmbedding against a float64 loop reference.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { sinusoidEmbedding } from './sinusoid.js';

function reference(distances: number[], dim: number): number[][] {
  return distances.map((distance) => {
    const row: number[] = [];
    for (let k = 0; k < dim / 2; k++) row.push(Math.sin(distance / Math.pow(10000, (2 * k) / dim)));
    for (let k = 0; k < dim / 2; k++) row.push(Math.cos(distance / Math.pow(10000, (2 * k) / dim)));
    return row;
  });
}

test('matches the reference: sin block then cos block, from arrays and int32 tensors', () => {
  const distances = [0, 1, 2, 7, 31, 100];
  const fromArray = sinusoidEmbedding(distances, 8);
  expect(fromArray.shape).toEqual([6, 8]);
  expectClose(fromArray, reference(distances, 8), { atol: 2e-5 });
  const tensor = tf.tensor1d(distances, 'int32');
  const fromTensor = sinusoidEmbedding(tensor, 6);
  expectClose(fromTensor, reference(distances, 6), { atol: 2e-5 });
  // Distance 0 is [0 .. 0, 1 .. 1]: concatenated, not interleaved.
  expectClose(fromArray.slice([0, 0], [1, 8]), [[0, 0, 0, 0, 1, 1, 1, 1]]);
  tf.dispose([fromArray, tensor, fromTensor]);
});

test('handles an empty distance list', () => {
  const empty = sinusoidEmbedding([], 4);
  expect(empty.shape).toEqual([0, 4]);
  empty.dispose();
});

test('rejects odd or non-positive widths and bad distances', () => {
  expect(() => sinusoidEmbedding([1], 7)).toThrow(InvalidArgumentError);
  expect(() => sinusoidEmbedding([1], 7)).toThrow(/dim.*even/);
  expect(() => sinusoidEmbedding([1], 0)).toThrow(/dim/);
  const matrix = tf.zeros([2, 2]);
  expect(() => sinusoidEmbedding(matrix as unknown as tf.Tensor1D, 4)).toThrow(/rank-1/);
  matrix.dispose();
});

test('gradient with respect to float distances matches finite differences', () => {
  const distances = tf.tensor1d([0.5, 2.25, 3]);
  const weights = tf.tensor2d([[1, -2, 0.5, 3], [0.1, 0.2, -0.3, 1], [2, 1, -1, 0.5]]);
  checkGradients((d) => tf.sum(tf.mul(sinusoidEmbedding(d as tf.Tensor1D, 4), weights)), [distances]);
  tf.dispose([distances, weights]);
});

test('does not leak', () => {
  const distances = tf.tensor1d([1, 2, 3]);
  expectNoLeak(() => sinusoidEmbedding(distances, 4).dispose());
  expectNoLeak(() => sinusoidEmbedding([1, 2], 4).dispose());
  distances.dispose();
});
