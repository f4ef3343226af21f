// Sinusoid embedding R(delta) of integer distances, sin and cos concatenated (SPEC 2.2, Transformer-XL eq. for R).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { assertInteger, assertTensor } from './validate.js';

/**
 * Sinusoid embedding of distances: row r is
 * `[sin(d_r * w_0) .. sin(d_r * w_{dim/2-1}), cos(d_r * w_0) .. cos(d_r * w_{dim/2-1})]`
 * with `w_k = 1 / 10000^(2k / dim)` (sin and cos concatenated, not interleaved).
 * @param distances `[n]` distances (any float or int32 values), or a plain array of numbers
 * @param dim embedding width, a positive even integer (the model width D in SPEC 2.2)
 * @returns `[n, dim]` float32
 */
export function sinusoidEmbedding(distances: tf.Tensor1D | readonly number[], dim: number): tf.Tensor2D {
  assertInteger('sinusoidEmbedding', 'dim', dim, 2);
  if (dim % 2 !== 0) {
    throw new InvalidArgumentError({
      operation: 'sinusoidEmbedding',
      parameter: 'dim',
      expected: 'an even integer (half the columns are sines, half cosines)',
      actual: String(dim),
    });
  }
  if (distances instanceof tf.Tensor) {
    assertTensor('sinusoidEmbedding', 'distances', distances, 1, '[n]');
  } else if (!Array.isArray(distances) || distances.some((value) => typeof value !== 'number')) {
    throw new InvalidArgumentError({
      operation: 'sinusoidEmbedding',
      parameter: 'distances',
      expected: 'a rank-1 tensor [n] or an array of numbers',
      actual: Array.isArray(distances) ? 'an array with non-number entries' : typeof distances,
    });
  }
  const half = dim / 2;
  const frequencies = new Float32Array(half);
  for (let k = 0; k < half; k++) frequencies[k] = 1 / Math.pow(10000, (2 * k) / dim);
  return tf.tidy(() => {
    const values =
      distances instanceof tf.Tensor
        ? tf.cast(distances, 'float32')
        : tf.tensor1d(distances as number[], 'float32');
    if (values.shape[0] === 0) return tf.zeros([0, dim]) as tf.Tensor2D;
    const angles = tf.mul(tf.reshape(values, [-1, 1]), tf.tensor2d(frequencies, [1, half]));
    return tf.concat([tf.sin(angles), tf.cos(angles)], 1) as tf.Tensor2D;
  });
}
