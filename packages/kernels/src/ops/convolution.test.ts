// blockConv and causalDilatedConv against loops and tf.conv1d (cpu backend), with gradients and leak checks.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { offset, randomValues } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { blockConv, causalDilatedConv } from './convolution.js';

const [batch, length, features, outputFeatures, rate] = [2, 6, 3, 4, 3];
const xValues = randomValues(batch * length * features, 1);
const blockWeightValues = randomValues(rate * features * outputFeatures, 2);
const biasValues = randomValues(outputFeatures, 3);

function blockReference(): number[] {
  const out: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let block = 0; block < length / rate; block++)
      for (let e = 0; e < outputFeatures; e++) {
        let total = biasValues[e] as number;
        for (let k = 0; k < rate; k++)
          for (let d = 0; d < features; d++)
            total +=
              (xValues[offset([batch, length, features], b, block * rate + k, d)] as number) *
              (blockWeightValues[offset([rate * features, outputFeatures], k * features + d, e)] as number);
        out.push(total);
      }
  return out;
}

test('blockConv matches a loop reference and tf.conv1d (kernel = stride = rate) on the cpu backend', async () => {
  const x = tf.tensor3d(xValues, [batch, length, features]);
  const weight = tf.tensor2d(blockWeightValues, [rate * features, outputFeatures]);
  const bias = tf.tensor1d(biasValues);
  const output = blockConv(x, weight, bias, rate);
  expect(output.shape).toEqual([batch, length / rate, outputFeatures]);
  const values = Array.from(output.dataSync());
  expectClose(values, blockReference(), { atol: 1e-5 });
  tf.dispose([x, weight, bias, output]);

  const backend = tf.getBackend();
  await tf.setBackend('cpu');
  const convolved = tf.tidy(() =>
    tf
      .add(
        tf.conv1d(
          tf.tensor3d(xValues, [batch, length, features]),
          tf.tensor3d(blockWeightValues, [rate, features, outputFeatures]),
          rate,
          'valid',
        ),
        tf.tensor1d(biasValues),
      )
      .dataSync(),
  );
  await tf.setBackend(backend);
  expectClose(values, Array.from(convolved), { atol: 1e-5 });
});

test('blockConv gradients (x, weight, bias) match finite differences', () => {
  const x = tf.tensor3d(randomValues(1 * 4 * 2, 4), [1, 4, 2]);
  const weight = tf.tensor2d(randomValues(2 * 2 * 3, 5), [4, 3]);
  const bias = tf.tensor1d(randomValues(3, 6));
  const weights = tf.tensor3d(randomValues(2 * 3, 7), [1, 2, 3]);
  checkGradients(
    (a, w, c) => tf.sum(tf.mul(blockConv(a as tf.Tensor3D, w as tf.Tensor2D, c as tf.Tensor1D, 2), weights)),
    [x, weight, bias],
  );
  tf.dispose([x, weight, bias, weights]);
});

test('blockConv rejects a length that is not a multiple of the rate, and a wrong weight', () => {
  const x = tf.zeros([1, 5, 2]) as tf.Tensor3D;
  const weight = tf.zeros([4, 2]) as tf.Tensor2D;
  const bias = tf.zeros([2]) as tf.Tensor1D;
  expect(() => blockConv(x, weight, bias, 2)).toThrow(InvalidArgumentError);
  expect(() => blockConv(x, weight, bias, 2)).toThrow(/divisible by the rate 2/);
  expect(() => blockConv(x, weight, bias, 5)).toThrow(/weight/);
  expect(() => blockConv(x, weight, bias, 0)).toThrow(/rate/);
  tf.dispose([x, weight, bias]);
});

function dilatedReference(x: Float32Array, weight: Float32Array, bias: Float32Array, shape: number[], kernelSize: number, dilation: number, outWidth: number): number[] {
  const [b0, n, d0] = shape as [number, number, number];
  const out: number[] = [];
  for (let b = 0; b < b0; b++)
    for (let t = 0; t < n; t++)
      for (let e = 0; e < outWidth; e++) {
        let total = bias[e] as number;
        for (let k = 0; k < kernelSize; k++) {
          const source = t - k * dilation;
          if (source < 0) continue;
          for (let d = 0; d < d0; d++)
            total += (x[offset(shape, b, source, d)] as number) * (weight[offset([kernelSize, d0, outWidth], k, d, e)] as number);
        }
        out.push(total);
      }
  return out;
}

test('causalDilatedConv matches a loop reference (several dilations, span longer than the input)', () => {
  const shape = [2, 5, 3];
  const xData = randomValues(30, 8);
  for (const [kernelSize, dilation] of [[2, 1], [2, 2], [3, 2], [2, 8], [1, 1]] as const) {
    const weightData = randomValues(kernelSize * 3 * 4, 9 + dilation);
    const biasData = randomValues(4, 10);
    const output = causalDilatedConv(
      tf.tensor3d(xData, shape as [number, number, number]),
      tf.tensor3d(weightData, [kernelSize, 3, 4]),
      tf.tensor1d(biasData),
      dilation,
    );
    expect(output.shape).toEqual([2, 5, 4]);
    expectClose(output.reshape([-1]), dilatedReference(xData, weightData, biasData, shape, kernelSize, dilation, 4), {
      atol: 1e-5,
      message: `kernel ${kernelSize}, dilation ${dilation}`,
    });
  }
});

test('causalDilatedConv is causal: changing x_t leaves y_{<t} unchanged', () => {
  const x = tf.tensor3d(randomValues(6 * 2, 11), [1, 6, 2]);
  const weight = tf.tensor3d(randomValues(2 * 2 * 2, 12), [2, 2, 2]);
  const bias = tf.zeros([2]) as tf.Tensor1D;
  const changed = tf.tensor3d(x.arraySync().map((row) => row.map((v, t) => (t === 3 ? v.map((c) => c + 10) : v))));
  const a = causalDilatedConv(x, weight, bias, 2).arraySync()[0]!;
  const b = causalDilatedConv(changed, weight, bias, 2).arraySync()[0]!;
  expect(b.slice(0, 3)).toEqual(a.slice(0, 3));
  expect(b[3]).not.toEqual(a[3]);
  expect(b[5]).not.toEqual(a[5]);
  expect(b[4]).toEqual(a[4]); // dilation 2: y_4 reads x_4 and x_2 only
  tf.dispose([x, weight, bias, changed]);
});

test('causalDilatedConv gradients (x, weight, bias) match finite differences', () => {
  const x = tf.tensor3d(randomValues(1 * 4 * 2, 13), [1, 4, 2]);
  const weight = tf.tensor3d(randomValues(2 * 2 * 2, 14), [2, 2, 2]);
  const bias = tf.tensor1d(randomValues(2, 15));
  const weights = tf.tensor3d(randomValues(4 * 2, 16), [1, 4, 2]);
  checkGradients(
    (a, w, c) => tf.sum(tf.mul(causalDilatedConv(a as tf.Tensor3D, w as tf.Tensor3D, c as tf.Tensor1D, 2), weights)),
    [x, weight, bias],
  );
  tf.dispose([x, weight, bias, weights]);
});

test('causalDilatedConv rejects mismatched weights and bad dilation', () => {
  const x = tf.zeros([1, 4, 2]) as tf.Tensor3D;
  const weight = tf.zeros([2, 3, 2]) as tf.Tensor3D;
  const bias = tf.zeros([2]) as tf.Tensor1D;
  expect(() => causalDilatedConv(x, weight, bias, 1)).toThrow(/weight/);
  const goodWeight = tf.zeros([2, 2, 2]) as tf.Tensor3D;
  expect(() => causalDilatedConv(x, goodWeight, bias, 0)).toThrow(/dilation/);
  expect(() => causalDilatedConv(x, goodWeight, tf.zeros([3]) as tf.Tensor1D, 1)).toThrow(/bias/);
  tf.dispose([x, weight, bias, goodWeight]);
});

test('both convolutions do not leak (forward and backward)', () => {
  const x = tf.tensor3d(randomValues(8, 17), [1, 4, 2]);
  const blockWeight = tf.tensor2d(randomValues(8, 18), [4, 2]);
  const dilatedWeight = tf.tensor3d(randomValues(8, 19), [2, 2, 2]);
  const bias = tf.zeros([2]) as tf.Tensor1D;
  expectNoLeak(() => blockConv(x, blockWeight, bias, 2).dispose());
  expectNoLeak(() => causalDilatedConv(x, dilatedWeight, bias, 2).dispose());
  expectNoLeak(() =>
    tf.dispose(
      tf.grads((a: tf.Tensor, w: tf.Tensor, v: tf.Tensor) =>
        tf.add(
          tf.sum(blockConv(a as tf.Tensor3D, w as tf.Tensor2D, bias, 2)),
          tf.sum(causalDilatedConv(a as tf.Tensor3D, v as tf.Tensor3D, bias, 1)),
        ),
      )([x, blockWeight, dilatedWeight]),
    ),
  );
  tf.dispose([x, blockWeight, dilatedWeight, bias]);
});
