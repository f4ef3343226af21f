// Layer normalisation over the last axis (Ba et al. 2016), used by every pre-norm block (SPEC 2).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { assertDtype, assertTensor, describeShape } from './validate.js';

/**
 * `gamma * (x - mean) / sqrt(variance + epsilon) + beta`, statistics over the last axis (biased variance).
 * @param x `[..., D]` float32
 * @param gamma `[D]` scale
 * @param beta `[D]` shift
 * @param epsilon added to the variance (default 1e-5)
 * @returns same shape as `x`
 */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5): T {
  const operation = 'layerNorm';
  if (!(x instanceof tf.Tensor) || x.isDisposed || x.rank < 1) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'x',
      expected: 'a live float32 tensor of rank >= 1 ([..., features])',
      actual: x instanceof tf.Tensor ? (x.isDisposed ? 'a disposed tensor' : 'a scalar') : typeof x,
    });
  }
  assertDtype(operation, 'x', x, ['float32']);
  const features = x.shape[x.rank - 1] as number;
  for (const [parameter, value] of [['gamma', gamma], ['beta', beta]] as const) {
    assertTensor(operation, parameter, value, 1, `[${features}]`);
    if (value.shape[0] !== features) {
      throw new InvalidArgumentError({
        operation,
        parameter,
        expected: `shape [${features}] (the last axis of x, ${describeShape(x.shape)})`,
        actual: describeShape(value.shape),
      });
    }
  }
  if (!(epsilon >= 0)) {
    throw new InvalidArgumentError({ operation, parameter: 'epsilon', expected: 'a number >= 0', actual: String(epsilon) });
  }
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const normalized = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
    return tf.add(tf.mul(normalized, gamma), beta) as T;
  });
}
