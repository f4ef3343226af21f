// feedForwardRelu against a loop reference (values), the unfused ops (values and gradients), finite differences and leaks.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { randomTensor } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { feedForwardRelu } from './feed-forward.js';
import { matMul } from './matmul.js';

function operands(rows: number, width: number, hidden: number, out: number, seed: number) {
  return [
    randomTensor([rows, width], seed),
    randomTensor([width, hidden], seed + 1),
    randomTensor([hidden], seed + 2),
    randomTensor([hidden, out], seed + 3),
    randomTensor([out], seed + 4),
  ] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D];
}

const unfused = (x: tf.Tensor2D, w1: tf.Tensor2D, b1: tf.Tensor1D, w2: tf.Tensor2D, b2: tf.Tensor1D): tf.Tensor2D =>
  tf.tidy(() => tf.add(matMul(tf.relu(tf.add(matMul(x, w1), b1)) as tf.Tensor2D, w2), b2) as tf.Tensor2D);

function loopReference(x: tf.Tensor2D, w1: tf.Tensor2D, b1: tf.Tensor1D, w2: tf.Tensor2D, b2: tf.Tensor1D): Float32Array {
  const [rows, width] = x.shape;
  const [hidden, out] = w2.shape;
  const [xv, w1v, b1v, w2v, b2v] = [x, w1, b1, w2, b2].map((t) => t.dataSync()) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const result = new Float32Array(rows * out);
  for (let n = 0; n < rows; n++) {
    const h = new Array<number>(hidden).fill(0).map((_, f) => {
      let sum = b1v[f] as number;
      for (let d = 0; d < width; d++) sum += (xv[n * width + d] as number) * (w1v[d * hidden + f] as number);
      return Math.max(sum, 0);
    });
    for (let o = 0; o < out; o++) {
      let sum = b2v[o] as number;
      for (let f = 0; f < hidden; f++) sum += (h[f] as number) * (w2v[f * out + o] as number);
      result[n * out + o] = sum;
    }
  }
  return result;
}

test('values equal the loop reference; values and gradients equal the unfused ops (odd shapes); no leak', () => {
  for (const [rows, width, hidden, out] of [[7, 5, 11, 3], [1, 3, 2, 4], [33, 8, 17, 8]] as const) {
    const args = operands(rows, width, hidden, out, rows + hidden);
    expectNoLeak(() => {
      const fused = feedForwardRelu(...args);
      expectClose(fused.dataSync(), loopReference(...args), { atol: 1e-5, rtol: 1e-5 });
      const plain = unfused(...args);
      expectClose(fused, plain, { atol: 0, rtol: 0 });
      const weights = randomTensor([rows, out], 3);
      const loss = (run: typeof unfused) => (...t: tf.Tensor[]) =>
        tf.sum(tf.mul(run(...(t as typeof args)), weights)) as tf.Scalar;
      const fusedGradients = tf.grads(loss(feedForwardRelu))(args);
      const plainGradients = tf.grads(loss(unfused))(args);
      fusedGradients.forEach((gradient, index) => expectClose(gradient, plainGradients[index] as tf.Tensor, { atol: 0, rtol: 0 }));
      tf.dispose([fused, plain, weights, ...fusedGradients, ...plainGradients]);
    });
    tf.dispose(args);
  }
});

test('gradients match finite differences', () => {
  const args = operands(3, 4, 5, 2, 9);
  const weights = randomTensor([3, 2], 10);
  checkGradients((...t) => tf.sum(tf.mul(feedForwardRelu(...(t as typeof args)), weights)) as tf.Scalar, args, { epsilon: 1e-3, atol: 2e-3, rtol: 2e-2 });
  tf.dispose([...args, weights]);
});

test('clear errors for mismatched shapes', () => {
  const [x, w1, b1, w2, b2] = operands(2, 3, 4, 5, 1);
  expect(() => feedForwardRelu(x, w2, b1, w2, b2)).toThrow(InvalidArgumentError);
  expect(() => feedForwardRelu(x, w1, b2, w2, b2)).toThrow(/innerBias/);
  expect(() => feedForwardRelu(x, w1, b1, w1, b2)).toThrow(/outer/);
  expect(() => feedForwardRelu(x, w1, b1, w2, b1)).toThrow(/outerBias/);
  tf.dispose([x, w1, b1, w2, b2]);
});
