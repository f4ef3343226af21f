// Matrix products whose gradients avoid wasm's slow transposed matmul (TO MOVE to @engram/kernels; see README "Departures").
//
// On the wasm backend (tfjs 4.22, measured on 2 cores) `tf.matMul(a, b, transposeA, transposeB)` with
// either flag set runs 15-45x slower than the plain product, and tfjs's own matMul gradient uses
// exactly those flags (dA = dy b^T, dB = a^T dy). These versions compute the same values with an
// explicit `tf.transpose` followed by a plain product, forward and backward.
import * as tf from '@tensorflow/tfjs';

/**
 * `a @ b` for `a [M, K]`, `b [K, N]` -> `[M, N]`, gradient `dy @ b^T`, `a^T @ dy` with explicit transposes.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const product = tf.customGrad((...args) => {
    const [left, right, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([left, right]);
    return {
      value: tf.matMul(left, right),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedLeft, savedRight] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.matMul(dy as tf.Tensor2D, tf.transpose(savedRight)), tf.matMul(tf.transpose(savedLeft), dy as tf.Tensor2D)];
      },
    };
  });
  return product(a, b) as tf.Tensor2D;
}

/**
 * Batched `a @ b` for `a [G, M, K]`, `b [G, K, N]` (same G, no broadcasting) -> `[G, M, N]`,
 * gradient `dy @ b^T`, `a^T @ dy` per group with explicit transposes.
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const product = tf.customGrad((...args) => {
    const [left, right, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    save([left, right]);
    return {
      value: tf.matMul(left, right),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedLeft, savedRight] = saved as [tf.Tensor3D, tf.Tensor3D];
        return [
          tf.matMul(dy as tf.Tensor3D, tf.transpose(savedRight, [0, 2, 1])),
          tf.matMul(tf.transpose(savedLeft, [0, 2, 1]), dy as tf.Tensor3D),
        ];
      },
    };
  });
  return product(a, b) as tf.Tensor3D;
}

/**
 * Batched `a @ b` as one plain 2-D product per group (`[G, M, K] @ [G, K, N]`): faster than the
 * batched kernel on wasm when there are few groups with many rows (e.g. the position term:
 * one group per head, `batch * T` rows).
 */
export function groupedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const left = tf.unstack(a) as tf.Tensor2D[];
    const right = tf.unstack(b) as tf.Tensor2D[];
    return tf.stack(left.map((group, index) => matMul(group, right[index] as tf.Tensor2D))) as tf.Tensor3D;
  });
}
