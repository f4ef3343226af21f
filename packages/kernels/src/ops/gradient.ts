// Gradient utilities: stop-gradient (SPEC 2.1 detached memory) and clipping by global norm (SPEC 7).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';

/**
 * Identity in the forward pass, zero gradient in the backward pass (tfjs has no `tf.stopGradient`).
 * Returns a new tensor handle (the caller owns it); the input is not disposed.
 * @param x any tensor, any shape
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  if (!(x instanceof tf.Tensor) || x.isDisposed) {
    throw new InvalidArgumentError({
      operation: 'stopGradient',
      parameter: 'x',
      expected: 'a live tensor',
      actual: x instanceof tf.Tensor ? 'a disposed tensor' : typeof x,
    });
  }
  const identity = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.clone(input), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return identity(x) as T;
}

/** Result of `clipByGlobalNorm`. */
export interface ClippedGradients {
  /** New tensors (same keys and shapes as the input), owned by the caller. */
  gradients: Record<string, tf.Tensor>;
  /** The global norm BEFORE clipping: `sqrt(sum over tensors of sum(g^2))`. */
  globalNorm: number;
}

/**
 * Scales all gradients by `maxNorm / globalNorm` when `globalNorm > maxNorm` (SPEC 7), and reports the pre-clip norm.
 *
 * Ownership: the input tensors are never disposed (the caller still owns them). The returned tensors are always
 * new handles the caller must dispose: scaled copies when clipping happened, `tf.clone`s (no data copy) otherwise.
 * `maxNorm <= 0` or `Infinity` disables clipping. When the norm is not finite (NaN or Infinity) nothing is scaled
 * and the returned `globalNorm` says so, so the caller can skip the step. Reads one number synchronously.
 * @param gradients name -> gradient tensor (any shapes, float32)
 */
export function clipByGlobalNorm(gradients: Record<string, tf.Tensor>, maxNorm: number): ClippedGradients {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) {
    throw new InvalidArgumentError({
      operation: 'clipByGlobalNorm',
      parameter: 'maxNorm',
      expected: 'a number (<= 0 or Infinity to disable clipping)',
      actual: String(maxNorm),
    });
  }
  const names = Object.keys(gradients);
  for (const name of names) {
    const gradient = gradients[name];
    if (!(gradient instanceof tf.Tensor) || gradient.isDisposed) {
      throw new InvalidArgumentError({
        operation: 'clipByGlobalNorm',
        parameter: `gradients.${name}`,
        expected: 'a live tensor',
        actual: gradient instanceof tf.Tensor ? 'a disposed tensor' : String(gradient),
      });
    }
  }
  if (names.length === 0) return { gradients: {}, globalNorm: 0 };
  const globalNorm = globalGradientNorm(gradients);
  const scale = clipFactor(globalNorm, maxNorm);
  const clip = scale !== 1;
  const result: Record<string, tf.Tensor> = {};
  for (const name of names) {
    const gradient = gradients[name] as tf.Tensor;
    result[name] = clip ? tf.tidy(() => tf.mul(gradient, tf.scalar(scale, gradient.dtype))) : tf.clone(gradient);
  }
  return { gradients: result, globalNorm };
}

/**
 * Kernel name of the global norm `sqrt(sum over inputs of sum(x^2))` of any number of float32 inputs (any shapes) as
 * a float32 scalar, in one dispatch. Registered for `wasm` with the fast kernels (summed in double there); where it
 * is not registered, {@link globalGradientNorm} uses the stock ops.
 */
export const GLOBAL_NORM = 'EngramGlobalNorm';

/**
 * `sqrt(sum over tensors of sum(g^2))` of live gradient tensors (any shapes); reads one number. One
 * {@link GLOBAL_NORM} dispatch where that kernel is registered (float32 gradients), else per tensor a square and a
 * sum in float32 (non-float32 gradients cast first). 0 for no gradients.
 */
export function globalGradientNorm(gradients: Record<string, tf.Tensor>): number {
  const tensors = Object.values(gradients);
  if (tensors.length === 0) return 0;
  const fused = tensors.every((gradient) => gradient.dtype === 'float32') && tf.getKernel(GLOBAL_NORM, tf.getBackend()) !== undefined;
  const normTensor = fused
    ? (tf.engine().runKernel(GLOBAL_NORM, Object.fromEntries(tensors.map((tensor, index) => [String(index), tensor]))) as tf.Scalar)
    : tf.tidy(() => tf.sqrt(tf.addN(tensors.map((gradient) => tf.sum(tf.square(gradient.dtype === 'float32' ? gradient : tf.cast(gradient, 'float32')))))));
  const globalNorm = normTensor.dataSync()[0] as number;
  normTensor.dispose();
  return globalNorm;
}

/**
 * The factor clipping by global norm multiplies every gradient with (SPEC 7): `maxNorm / globalNorm` when the norm
 * is finite and above a finite `maxNorm > 0`, otherwise 1 (`maxNorm <= 0` or `Infinity` disables clipping).
 */
export function clipFactor(globalNorm: number, maxNorm: number): number {
  const clip = maxNorm > 0 && Number.isFinite(maxNorm) && Number.isFinite(globalNorm) && globalNorm > maxNorm;
  return clip ? maxNorm / globalNorm : 1;
}
