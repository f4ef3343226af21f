// Convolutions written as reshape/slice + 2-D matMul: the `conv` and `dilated-conv` compressors (SPEC 3.1).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { assertDtype, assertInteger, assertTensor, describeShape } from './validate.js';

function assertBias(operation: string, bias: tf.Tensor1D, width: number): void {
  assertTensor(operation, 'bias', bias, 1, `[${width}]`);
  if (bias.shape[0] !== width) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'bias',
      expected: `shape [${width}] (the output width of weight)`,
      actual: describeShape(bias.shape),
    });
  }
}

/**
 * 1-D convolution with kernel = stride = `rate` (non-overlapping blocks), computed as
 * `reshape(x, [B*n/c, c*D]) @ weight + bias`. Equal to `tf.conv1d(x, reshape(weight, [c, D, E]), c, 'valid')`,
 * but its weight gradient is a matMul, which every backend has (wasm lacks `Conv2DBackpropFilter`).
 * @param x `[B, n, D]` with `n % rate == 0`
 * @param weight `[rate*D, E]` (E = D for a compressor); row `k*D + d` is tap k (k-th token of the block), channel d
 * @param bias `[E]`
 * @param rate block length c (compression rate), a positive integer
 * @returns `[B, n/rate, E]`
 */
export function blockConv(x: tf.Tensor3D, weight: tf.Tensor2D, bias: tf.Tensor1D, rate: number): tf.Tensor3D {
  const operation = 'blockConv';
  assertTensor(operation, 'x', x, 3, '[batch, length, features]');
  assertDtype(operation, 'x', x, ['float32']);
  assertInteger(operation, 'rate', rate, 1);
  const [batch, length, features] = x.shape;
  if (length % rate !== 0) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'x',
      expected: `a length (axis 1) divisible by the rate ${rate}`,
      actual: describeShape(x.shape),
      fix: 'Keep the tokens that do not fill a block for the next call (SPEC 3: they wait in a buffer).',
    });
  }
  assertTensor(operation, 'weight', weight, 2, `[${rate * features}, outputFeatures]`);
  if (weight.shape[0] !== rate * features) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'weight',
      expected: `shape [rate * features = ${rate * features}, outputFeatures]`,
      actual: describeShape(weight.shape),
    });
  }
  const outputFeatures = weight.shape[1];
  assertBias(operation, bias, outputFeatures);
  const blocks = length / rate;
  return tf.tidy(() => {
    if (batch * blocks === 0) return tf.zeros([batch, blocks, outputFeatures]) as tf.Tensor3D;
    const flat = tf.reshape(x, [batch * blocks, rate * features]);
    const output = tf.add(tf.matMul(flat, weight), bias);
    return tf.reshape(output, [batch, blocks, outputFeatures]) as tf.Tensor3D;
  });
}

/**
 * Causal dilated 1-D convolution: `y_t = bias + sum_k x_{t - k*dilation} @ weight[k]` (tap 0 is the current token,
 * positions before the start read zeros). Built from one zero pad, one shifted slice per tap, a concat and one 2-D
 * matMul, so the gradient exists on every backend (tfjs has no dilated-conv gradient).
 * @param x `[B, n, D]`
 * @param weight `[kernelSize, D, E]` (E = D in the dilated-conv compressor)
 * @param bias `[E]`
 * @param dilation distance between taps, a positive integer
 * @returns `[B, n, E]`
 */
export function causalDilatedConv(
  x: tf.Tensor3D,
  weight: tf.Tensor3D,
  bias: tf.Tensor1D,
  dilation: number,
): tf.Tensor3D {
  const operation = 'causalDilatedConv';
  assertTensor(operation, 'x', x, 3, '[batch, length, features]');
  assertDtype(operation, 'x', x, ['float32']);
  assertInteger(operation, 'dilation', dilation, 1);
  const [batch, length, features] = x.shape;
  assertTensor(operation, 'weight', weight, 3, `[kernelSize, ${features}, outputFeatures]`);
  const [kernelSize, weightFeatures, outputFeatures] = weight.shape;
  if (weightFeatures !== features || kernelSize < 1) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'weight',
      expected: `shape [kernelSize >= 1, ${features}, outputFeatures] (axis 1 = the last axis of x)`,
      actual: describeShape(weight.shape),
    });
  }
  assertBias(operation, bias, outputFeatures);
  return tf.tidy(() => {
    if (batch * length === 0) return tf.zeros([batch, length, outputFeatures]) as tf.Tensor3D;
    const span = (kernelSize - 1) * dilation;
    const padded = span > 0 ? tf.pad(x, [[0, 0], [span, 0], [0, 0]]) : x;
    const taps: tf.Tensor[] = [];
    for (let tap = 0; tap < kernelSize; tap++) {
      taps.push(tf.slice(padded, [0, span - tap * dilation, 0], [batch, length, features]));
    }
    const stacked = taps.length === 1 ? (taps[0] as tf.Tensor) : tf.concat(taps, 2);
    const output = tf.add(
      tf.matMul(
        tf.reshape(stacked, [batch * length, kernelSize * features]),
        tf.reshape(weight, [kernelSize * features, outputFeatures]),
      ),
      bias,
    );
    return tf.reshape(output, [batch, length, outputFeatures]) as tf.Tensor3D;
  });
}
