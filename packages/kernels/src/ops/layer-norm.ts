// Layer normalisation over the last axis (Ba et al. 2016), used by every pre-norm block (SPEC 2).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { LAYER_NORM, LAYER_NORM_GRAD, type LayerNormAttrs } from '../kernels/norm-kernels.js';
import { assertDtype, assertTensor, describeShape } from './validate.js';

/**
 * `gamma * (x - mean) / sqrt(variance + epsilon) + beta`, statistics over the last axis (biased variance).
 * One taped op: on wasm with the fast kernels registered the forward pass is one pass of native/norm.c and so is the
 * backward; elsewhere (and for an empty x) they are tfjs ops. Both save the normalised x, 1/sigma and gamma.
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
  const attrs: LayerNormAttrs = { epsilon };
  const normalize = tf.customGrad((...args) => {
    const [input, scale, shift, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const fused = fusedKernels(LAYER_NORM, input);
    const [value, normalized, inverseDeviation] = fused
      ? (tf.engine().runKernel(LAYER_NORM, { x: input, gamma: scale, beta: shift }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[])
      : composite(input, scale, shift, epsilon);
    save([normalized as tf.Tensor, inverseDeviation as tf.Tensor, scale]);
    return {
      value: value as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedNormalized, savedInverseDeviation, savedScale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D];
        if (fusedKernels(LAYER_NORM_GRAD, dy)) {
          const inputs = { dy, normalized: savedNormalized, inverse: savedInverseDeviation, gamma: savedScale };
          return tf.engine().runKernel(LAYER_NORM_GRAD, inputs) as tf.Tensor[];
        }
        return compositeGradient(dy, savedNormalized, savedInverseDeviation, savedScale, features);
      },
    };
  });
  return normalize(x, gamma, beta) as T;
}

/** True when the active backend has Engram's kernel `name` (wasm with the fast kernels) and `x` is not empty. */
function fusedKernels(name: string, x: tf.Tensor): boolean {
  return x.size > 0 && tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * The forward pass as tfjs ops (every backend without the kernels of native/norm.c).
 * @param input `[..., D]`
 * @returns `[y [..., D], normalized [..., D], 1/sigma [..., 1]]`
 */
function composite(input: tf.Tensor, scale: tf.Tensor1D, shift: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const { mean, variance } = tf.moments(input, -1, true);
  const inverseDeviation = tf.rsqrt(tf.add(variance, epsilon));
  // The x-sized temporaries are disposed once the next exists.
  const centered = tf.sub(input, mean);
  const normalized = tf.mul(centered, inverseDeviation);
  centered.dispose();
  const scaled = tf.mul(normalized, scale);
  const value = tf.add(scaled, shift);
  scaled.dispose();
  return [value, normalized, inverseDeviation];
}

/**
 * The backward pass as tfjs ops from what the forward pass saved.
 * @param dy `[..., D]`; `savedNormalized` `[..., D]`; `savedInverseDeviation` `[..., 1]`; `savedScale` `[D]`
 * @returns `[dx [..., D], dgamma [D], dbeta [D]]`
 */
function compositeGradient(dy: tf.Tensor, savedNormalized: tf.Tensor, savedInverseDeviation: tf.Tensor, savedScale: tf.Tensor1D, features: number): tf.Tensor[] {
  return tf.tidy(() => {
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
  });
}
