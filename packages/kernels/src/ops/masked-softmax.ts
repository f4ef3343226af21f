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
    const logits = tf.add(scores, tf.mul(tf.sub(1, visible), HIDDEN_LOGIT));
    const probabilities = tf.mul(tf.softmax(logits), visible);
    if (softMask === undefined) return probabilities;
    const weighted = tf.mul(probabilities, softMask);
    return tf.div(weighted, tf.add(tf.sum(weighted, -1, true), 1e-8));
  });
}
