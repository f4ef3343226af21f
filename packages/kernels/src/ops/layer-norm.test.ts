// layerNorm against a float64 loop reference, with gradients for x, gamma and beta.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { randomTensor } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { layerNorm } from './layer-norm.js';

function reference(x: Float32Array | Int32Array | Uint8Array, features: number, gamma: number[], beta: number[], epsilon: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < x.length; start += features) {
    const row = Array.from(x.subarray(start, start + features));
    const mean = row.reduce((a, b) => a + b, 0) / features;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / features;
    row.forEach((value, k) => out.push((gamma[k] as number) * (value - mean) / Math.sqrt(variance + epsilon) + (beta[k] as number)));
  }
  return out;
}

test('matches the reference over the last axis of a rank-3 input', () => {
  const x = randomTensor([2, 3, 5], 1, -2, 3);
  const gammaValues = [1, 0.5, -1, 2, 1.5];
  const betaValues = [0, 0.1, -0.2, 0.3, 1];
  const gamma = tf.tensor1d(gammaValues);
  const beta = tf.tensor1d(betaValues);
  const output = layerNorm(x, gamma, beta);
  expect(output.shape).toEqual([2, 3, 5]);
  expectClose(output.reshape([-1]), reference(x.dataSync(), 5, gammaValues, betaValues, 1e-5), { atol: 1e-5 });
  const loose = layerNorm(x, gamma, beta, 0.5);
  expectClose(loose.reshape([-1]), reference(x.dataSync(), 5, gammaValues, betaValues, 0.5), { atol: 1e-5 });
  tf.dispose([x, gamma, beta, output, loose]);
});

test('gradients for x, gamma and beta match finite differences', () => {
  const x = randomTensor([2, 4], 2, -1, 1);
  const gamma = randomTensor([4], 3, 0.5, 1.5);
  const beta = randomTensor([4], 4);
  const weights = randomTensor([2, 4], 5);
  checkGradients(
    (a, g, b) => tf.sum(tf.mul(layerNorm(a as tf.Tensor, g as tf.Tensor1D, b as tf.Tensor1D), weights)),
    [x, gamma, beta],
  );
  tf.dispose([x, gamma, beta, weights]);
});

test('rejects gamma/beta of the wrong width', () => {
  const x = tf.zeros([2, 4]);
  const gamma = tf.ones([3]) as tf.Tensor1D;
  const beta = tf.zeros([4]) as tf.Tensor1D;
  expect(() => layerNorm(x, gamma, beta)).toThrow(/gamma.*\[4\]/);
  expect(() => layerNorm(x, beta, beta, -1)).toThrow(/epsilon/);
  tf.dispose([x, gamma, beta]);
});

test('does not leak (forward and backward)', () => {
  const x = randomTensor([2, 3], 6);
  const gamma = tf.ones([3]) as tf.Tensor1D;
  const beta = tf.zeros([3]) as tf.Tensor1D;
  expectNoLeak(() => layerNorm(x, gamma, beta).dispose());
  expectNoLeak(() => tf.dispose(tf.grads((a: tf.Tensor, g: tf.Tensor) => tf.sum(tf.square(layerNorm(a, g as tf.Tensor1D, beta))))([x, gamma])));
  tf.dispose([x, gamma, beta]);
});

test('forward + backward peak memory stays under 18 input sizes (one taped op, not one per elementary op)', async () => {
  // Unfused, every elementary op (moments, sub, rsqrt, mul, mul, add) saved its inputs for the backward pass and
  // the backward pass kept an x-sized gradient per op (peak ~25 input sizes here); fused, ~15.3.
  const x = randomTensor([4, 8, 16], 13);
  const gamma = randomTensor([16], 14) as tf.Tensor1D;
  const beta = randomTensor([16], 15) as tf.Tensor1D;
  const weights = tf.range(0, 16);
  const inputBytes = x.size * 4;
  const before = tf.memory().numBytes;
  const profile = await tf.profile(() => {
    const loss = (input: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) =>
      tf.sum(tf.mul(layerNorm(input, scale as tf.Tensor1D, shift as tf.Tensor1D), weights));
    tf.dispose(tf.grads(loss)([x, gamma, beta]));
  });
  expect((profile.peakBytes - before) / inputBytes).toBeLessThan(18);
  tf.dispose([x, gamma, beta, weights]);
});
