// Transformer-XL rel-shift: aligns position scores computed for distances K-1..0 with each query (SPEC 2.2, path 1).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { assertTensor, describeShape } from './validate.js';

/**
 * Rel-shift of position scores for contiguous keys (M memories followed by the T current tokens).
 *
 * Input `[B, H, T, K]` whose last axis j' holds the score of query i against distance `K-1-j'`
 * (distances K-1 down to 0). Output `[B, H, T, K]` with `out[b,h,i,j] = in[b,h,i, j + (T-1-i)]` for every key
 * `j <= M+i` (query i sits at key index M+i, so that is the term for distance `M+i-j`). Entries above the causal
 * diagonal (`j > M+i`) are unspecified and must be masked by the caller.
 *
 * Implemented as: pad one zero column in front of the key axis, view as `[.., K+1, T]`, drop the first row, view
 * as `[.., T, K]`. Only pad, reshape and slice are used (forward and gradient), so it works on every backend.
 * @param scores `[B, H, T, K]` with `K >= T`
 */
export function relShift(scores: tf.Tensor4D): tf.Tensor4D {
  assertTensor('relShift', 'scores', scores, 4, '[batch, heads, queries, keys]');
  const [, , queries, keys] = scores.shape;
  if (keys < queries) {
    throw new InvalidArgumentError({
      operation: 'relShift',
      parameter: 'scores',
      expected: 'at least as many keys as queries (keys = memory + current tokens)',
      actual: describeShape(scores.shape),
      fix: 'For keys that are not a contiguous [memory; current] range use gatherRelativeScores.',
    });
  }
  // The shift is linear, so its gradient is the adjoint view (reshape, pad, reshape, slice) of dy alone. Under
  // tf.customGrad the four views are not taped: nothing score-sized is saved for the backward pass and the
  // backward pass keeps one gradient instead of four (the tape keeps every gradient until it finishes).
  const shift = tf.customGrad((...args) => {
    const [input] = args as [tf.Tensor4D, tf.GradSaveFunc];
    return {
      value: shiftRelative(input),
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => shiftRelativeAdjoint(dy as tf.Tensor4D)),
    };
  });
  return shift(scores) as tf.Tensor4D;
}

/** The rel-shift itself (untaped views; `[B, H, T, K]` with `K >= T`, unchecked): see {@link relShift}. */
export function shiftRelative(scores: tf.Tensor4D): tf.Tensor4D {
  const [batch, heads, queries, keys] = scores.shape;
  const padded = tf.pad(scores, [[0, 0], [0, 0], [0, 0], [1, 0]]);
  const viewed = tf.reshape(padded, [batch, heads, keys + 1, queries]);
  const dropped = tf.slice(viewed, [0, 0, 1, 0], [batch, heads, keys, queries]);
  return tf.reshape(dropped, [batch, heads, queries, keys]) as tf.Tensor4D;
}

/** The adjoint of {@link shiftRelative} (its gradient): `[B, H, T, K]` to `[B, H, T, K]`. */
export function shiftRelativeAdjoint(dy: tf.Tensor4D): tf.Tensor4D {
  const [batch, heads, queries, keys] = dy.shape;
  const rows = tf.reshape(dy, [batch, heads, keys, queries]);
  const restored = tf.pad(rows, [[0, 0], [0, 0], [1, 0], [0, 0]]);
  const columns = tf.reshape(restored, [batch, heads, queries, keys + 1]);
  return tf.slice(columns, [0, 0, 0, 1], [batch, heads, queries, keys]) as tf.Tensor4D;
}
