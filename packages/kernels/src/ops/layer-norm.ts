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
  // One taped op with the textbook gradient: only the normalised x and 1/sigma are saved, and the backward pass
  // keeps one x-sized gradient instead of one per elementary op (the tape keeps every gradient until it finishes).
  const normalize = tf.customGrad((...args) => {
    const [input, scale, shift, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const { mean, variance } = tf.moments(input, -1, true);
    const inverseDeviation = tf.rsqrt(tf.add(variance, epsilon));
    // The x-sized temporaries are disposed once the next exists.
    const centered = tf.sub(input, mean);
    const normalized = tf.mul(centered, inverseDeviation);
    centered.dispose();
    save([normalized, inverseDeviation, scale]);
    const scaled = tf.mul(normalized, scale);
    const value = tf.add(scaled, shift);
    scaled.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [savedNormalized, savedInverseDeviation, savedScale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D];
          // The x-sized temporaries are disposed once used: about three alive at a time instead of seven.
          const rows = tf.reshape(dy, [-1, features]);
          const product = tf.mul(rows, tf.reshape(savedNormalized, [-1, features]));
          const gradientScale = tf.sum(product, 0);
          product.dispose();
          const gradientShift = tf.sum(rows, 0);
          // dx = (g - mean(g) - xhat * mean(g * xhat)) / sigma with g = dy * gamma.
          const scaled = tf.mul(dy, savedScale);
          const centered = tf.sub(scaled, tf.mean(scaled, -1, true));
          const weighted = tf.mul(scaled, savedNormalized);
          scaled.dispose();
          const projected = tf.mul(savedNormalized, tf.mean(weighted, -1, true));
          weighted.dispose();
          const difference = tf.sub(centered, projected);
          tf.dispose([centered, projected]);
          const gradientInput = tf.mul(difference, savedInverseDeviation);
          difference.dispose();
          return [gradientInput, gradientScale, gradientShift];
        }),
    };
  });
  return normalize(x, gamma, beta) as T;
}
