// Softmax over keys with a hard visibility mask and an optional soft mask renormalised after softmax (SPEC 2.2, 4).
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from './gradient.js';
import { assertBroadcastsTo, assertDtype } from './validate.js';
import { InvalidArgumentError } from '../errors.js';

/** Masks for `maskedSoftmax`; both broadcast to the scores, e.g. `[B, 1, T, K]`. */
export interface MaskedSoftmaxOptions {
  /** float 1 = visible, 0 = hidden (e.g. the causal mask). */
  mask?: tf.Tensor;
  /** float in [0, 1] (Expire-Span / Adaptive-Span ramp); 0 hides the key, other values reweight after softmax. */
  softMask?: tf.Tensor;
}

/** Added to the logit of a hidden key: far below any real score, far above float32's lowest value. */
const HIDDEN_LOGIT = -1e9;

/**
 * Attention probabilities over the last axis.
 *
 * Entries with `mask == 0` or `softMask == 0` get a logit of `score - 1e9` before softmax and are then zeroed, so a
 * row with no visible key outputs exactly zeros (never NaN) and has a finite gradient. With a soft mask m, after
 * softmax `a <- m * a / (sum_j m * a + 1e-8)` (SPEC 4); the gradient flows into the soft mask through that
 * renormalisation (not through the `== 0` test).
 * @param scores `[..., K]`, typically `[B, H, T, K]`
 * @returns same shape as `scores`
 */
export function maskedSoftmax(scores: tf.Tensor, options: MaskedSoftmaxOptions = {}): tf.Tensor {
  const operation = 'maskedSoftmax';
  if (!(scores instanceof tf.Tensor) || scores.isDisposed || scores.rank < 1) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'scores',
      expected: 'a live float32 tensor of rank >= 1 ([batch, heads, queries, keys])',
      actual: scores instanceof tf.Tensor ? (scores.isDisposed ? 'a disposed tensor' : 'a scalar') : typeof scores,
    });
  }
  assertDtype(operation, 'scores', scores, ['float32']);
  const { mask, softMask } = options;
  for (const [parameter, value] of [['mask', mask], ['softMask', softMask]] as const) {
    if (value === undefined) continue;
    if (!(value instanceof tf.Tensor) || value.isDisposed) {
      throw new InvalidArgumentError({
        operation,
        parameter,
        expected: 'a live tensor broadcastable to scores',
        actual: value instanceof tf.Tensor ? 'a disposed tensor' : typeof value,
      });
    }
    assertDtype(operation, parameter, value, ['float32']);
    assertBroadcastsTo(operation, parameter, value.shape, scores.shape, 'scores');
  }
  return tf.tidy(() => {
    let visible: tf.Tensor | undefined = mask;
    if (softMask !== undefined) {
      const softVisible = tf.step(stopGradient(softMask));
      visible = visible === undefined ? softVisible : tf.mul(visible, softVisible);
    }
    if (visible === undefined) return tf.softmax(scores);
    if (softMask === undefined) return hardMaskedSoftmax(scores, visible);
    return softMaskedSoftmax(scores, visible, softMask);
  });
}

/**
 * Forward of the hard-mask path: `softmax(scores + (1 - mask) * -1e9) * mask` (untaped ops).
 * @param scores `[..., K]`
 * @param mask float 0/1, broadcastable to `scores`
 */
export function hardMaskedForward(scores: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  return tf.mul(tf.softmax(tf.add(scores, tf.mul(tf.sub(1, mask), HIDDEN_LOGIT))), mask);
}

/**
 * Gradient of {@link hardMaskedForward} with respect to the scores, `p * (g - sum(g * p))` with `g = dy * mask` and
 * `p` the forward output. This is the unfused ops' `s * (g - sum(g * s))` (`s` the softmax before the mask): `p`
 * equals `s` wherever the mask is 1, and where it is 0 both `g` and the product vanish.
 * @param dy `[..., K]`
 * @param probabilities the forward output, `[..., K]`
 * @param mask float 0/1, broadcastable to `dy`
 */
export function hardMaskedBackward(dy: tf.Tensor, probabilities: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  const upstream = tf.mul(dy, mask);
  return tf.mul(probabilities, tf.sub(upstream, tf.sum(tf.mul(upstream, probabilities), -1, true)));
}

/**
 * `softmax(scores + (1 - mask) * -1e9) * mask` as one taped op (the hard-mask path of {@link maskedSoftmax}).
 * Only the output and the mask are saved, and the backward pass keeps one score-sized gradient instead of four
 * (the tape keeps every gradient until it finishes). The mask is a constant here: it gets no gradient.
 * @param scores `[..., K]`
 * @param mask float, broadcastable to `scores`
 */
function hardMaskedSoftmax(scores: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  const fused = tf.customGrad((...args) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const probabilities = hardMaskedForward(input, mask);
    save([probabilities, mask]);
    return {
      value: probabilities,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => hardMaskedBackward(dy, saved[0] as tf.Tensor, saved[1] as tf.Tensor)),
    };
  });
  return fused(scores);
}

/** Sums a gradient of the broadcast shape down to `shape` (the inverse of broadcasting `shape` up to it). */
function sumToShape(gradient: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const leading = gradient.rank - shape.length;
  const axes: number[] = [];
  for (let axis = 0; axis < gradient.rank; axis++) {
    if (axis < leading || (shape[axis - leading] === 1 && gradient.shape[axis] !== 1)) axes.push(axis);
  }
  return tf.reshape(axes.length > 0 ? tf.sum(gradient, axes, true) : gradient, [...shape]);
}

/** What the soft-mask forward keeps for its gradient (see {@link softMaskedForward}). */
export interface SoftMaskedPieces {
  /** The output `w / (sum(w) + 1e-8)`. */
  output: tf.Tensor;
  /** `softmax(scores + (1 - visible) * -1e9) * visible`, `[..., K]`. */
  visibleSoftmax: tf.Tensor;
  /** `sum(w) + 1e-8`, `[..., 1]`. */
  denominator: tf.Tensor;
}

/**
 * Forward of the soft-mask path: `w = softmax(scores + (1 - visible) * -1e9) * visible * m`, output `w / (sum(w) + 1e-8)`.
 * @param scores `[..., K]`
 * @param visible float 0/1, broadcastable to `scores`
 * @param softMask float, broadcastable to `scores`
 */
export function softMaskedForward(scores: tf.Tensor, visible: tf.Tensor, softMask: tf.Tensor): SoftMaskedPieces {
  const visibleSoftmax = tf.mul(tf.softmax(tf.add(scores, tf.mul(tf.sub(1, visible), HIDDEN_LOGIT))), visible);
  const weighted = tf.mul(visibleSoftmax, softMask);
  const denominator = tf.add(tf.sum(weighted, -1, true), 1e-8);
  return { output: tf.div(weighted, denominator), visibleSoftmax, denominator };
}

/**
 * Gradients of {@link softMaskedForward}, as the unfused ops give them: with `y` the output, `p` the visible softmax and
 * `den` the denominator, `dw = (dy - sum(dy * y)) / den`, the soft mask gets `dw * p` (summed to its shape) and the
 * scores `p * (g - sum(g * p))` with `g = dw * m * visible` (`p` stands for the softmax `s`: they differ only where
 * `visible` is 0, where `g` and the products vanish).
 * @returns `[gradient of the scores, gradient of the soft mask]`
 */
export function softMaskedBackward(
  dy: tf.Tensor,
  visibleSoftmax: tf.Tensor,
  visible: tf.Tensor,
  softMask: tf.Tensor,
  denominator: tf.Tensor,
): [tf.Tensor, tf.Tensor] {
  const output = tf.div(tf.mul(visibleSoftmax, softMask), denominator);
  const gradientWeighted = tf.div(tf.sub(dy, tf.sum(tf.mul(dy, output), -1, true)), denominator);
  const gradientSoft = sumToShape(tf.mul(gradientWeighted, visibleSoftmax), softMask.shape);
  const upstream = tf.mul(tf.mul(gradientWeighted, softMask), visible);
  const gradientScores = tf.mul(visibleSoftmax, tf.sub(upstream, tf.sum(tf.mul(upstream, visibleSoftmax), -1, true)));
  return [gradientScores, gradientSoft];
}

/**
 * The soft-mask path of {@link maskedSoftmax} as one taped op ({@link softMaskedForward}, {@link softMaskedBackward}).
 * Saved: the visible softmax, `visible`, `m` and the denominator; `visible` is a constant (no gradient), as the
 * `== 0` test was.
 * @param scores `[..., K]`
 * @param visible float 0/1, broadcastable to `scores`
 * @param softMask float, broadcastable to `scores`
 */
function softMaskedSoftmax(scores: tf.Tensor, visible: tf.Tensor, softMask: tf.Tensor): tf.Tensor {
  const fused = tf.customGrad((...args) => {
    const [input, soft, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const { output, visibleSoftmax, denominator } = softMaskedForward(input, visible, soft);
    save([visibleSoftmax, visible, soft, denominator]);
    return {
      value: output,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [savedSoftmax, savedVisible, savedSoft, savedDenominator] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return softMaskedBackward(dy, savedSoftmax, savedVisible, savedSoft, savedDenominator);
        }),
    };
  });
  return fused(scores, softMask);
}
