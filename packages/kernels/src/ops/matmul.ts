// Matrix products whose gradients use explicit transposes instead of matMul's transpose flags (slow on wasm; SPEC 2.2 projections).
//
// tfjs's own matMul gradient computes dA = dy b^T and dB = a^T dy with `tf.matMul(.., transposeA, transposeB)`;
// on the stock wasm backend (tfjs 4.22) a product with either flag set runs 15-45x slower than the plain product
// (see the README). These ops give the same values and gradients with `tf.transpose` followed by plain products,
// except while the fast wasm kernels are active (registerFastKernels), where flags cost nothing and save the copies.
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { fastKernelsActive } from '../kernels/fast-kernels.js';
import { assertDtype, assertTensor, describeShape } from './validate.js';

function checkOperands(operation: string, a: tf.Tensor, b: tf.Tensor, rank: 2 | 3): void {
  const leftLayout = rank === 2 ? '[M, K]' : '[G, M, K]';
  const rightLayout = rank === 2 ? '[K, N]' : '[G, K, N]';
  assertTensor(operation, 'a', a, rank, leftLayout);
  assertTensor(operation, 'b', b, rank, rightLayout);
  assertDtype(operation, 'a', a, ['float32']);
  assertDtype(operation, 'b', b, ['float32']);
  const inner = a.shape[rank - 1];
  if (b.shape[rank - 2] !== inner) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'b',
      expected: `${rightLayout} with K = ${inner} (the last axis of a, ${describeShape(a.shape)})`,
      actual: describeShape(b.shape),
      fix: 'Transpose the operand yourself (tf.transpose) so the inner sizes agree.',
    });
  }
  if (rank === 3 && a.shape[0] !== b.shape[0]) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'b',
      expected: `${rightLayout} with G = ${a.shape[0]} groups, like a (no broadcasting over groups)`,
      actual: describeShape(b.shape),
      fix: 'Tile or reshape the operands to the same number of groups.',
    });
  }
}

/** True when products with transpose flags run as fast as plain ones: the fast kernels serve the active wasm backend. */
function transposeFlagsAreFast(): boolean {
  return tf.getBackend() === 'wasm' && fastKernelsActive();
}

/**
 * The gradients `[dy @ b^T, a^T @ dy]` of `a @ b` (2-D), by transpose flags while the fast wasm kernels are active and
 * by explicit transposes elsewhere: the one place every fused op of this package takes a product's gradient from.
 * @param upstream `[M, N]`
 * @param a `[M, K]`
 * @param b `[K, N]`
 */
export function productGradients(upstream: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  if (transposeFlagsAreFast()) return [tf.matMul(upstream, b, false, true), tf.matMul(a, upstream, true, false)];
  return [tf.matMul(upstream, tf.transpose(b)), tf.matMul(tf.transpose(a), upstream)];
}

function plainProduct2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const product = tf.customGrad((...args) => {
    const [left, right, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([left, right]);
    return {
      value: tf.matMul(left, right),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedLeft, savedRight] = saved as [tf.Tensor2D, tf.Tensor2D];
        return productGradients(dy as tf.Tensor2D, savedLeft, savedRight);
      },
    };
  });
  return product(a, b) as tf.Tensor2D;
}

/**
 * `a @ b` with gradients `dy @ b^T` and `a^T @ dy` computed by explicit transposes and plain products (by transpose
 * flags while the fast wasm kernels are active).
 * @param a float32 `[M, K]`
 * @param b float32 `[K, N]`
 * @returns `[M, N]`
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  checkOperands('matMul', a, b, 2);
  return plainProduct2d(a, b);
}

/**
 * Batched `a @ b` (one product per group, same number of groups, no broadcasting) with gradients
 * `dy @ b^T` and `a^T @ dy` per group computed by explicit transposes and plain batched products (by transpose flags
 * while the fast wasm kernels are active).
 * @param a float32 `[G, M, K]`
 * @param b float32 `[G, K, N]`
 * @returns `[G, M, N]`
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  checkOperands('batchMatMul', a, b, 3);
  const product = tf.customGrad((...args) => {
    const [left, right, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    save([left, right]);
    return {
      value: tf.matMul(left, right),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedLeft, savedRight] = saved as [tf.Tensor3D, tf.Tensor3D];
        const upstream = dy as tf.Tensor3D;
        if (transposeFlagsAreFast()) {
          return [tf.matMul(upstream, savedRight, false, true), tf.matMul(savedLeft, upstream, true, false)];
        }
        return [
          tf.matMul(upstream, tf.transpose(savedRight, [0, 2, 1])),
          tf.matMul(tf.transpose(savedLeft, [0, 2, 1]), upstream),
        ];
      },
    };
  });
  return product(a, b) as tf.Tensor3D;
}

/**
 * The same product as {@link batchMatMul}, computed as one plain 2-D {@link matMul} per group and stacked.
 * On wasm this beats the batched kernel when there are few groups with many rows (e.g. the attention
 * position term: one group per head, `batch * T` rows).
 * @param a float32 `[G, M, K]`
 * @param b float32 `[G, K, N]`
 * @returns `[G, M, N]`
 */
export function groupedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  checkOperands('groupedMatMul', a, b, 3);
  return tf.tidy(() => {
    const left = tf.unstack(a) as tf.Tensor2D[];
    const right = tf.unstack(b) as tf.Tensor2D[];
    return tf.stack(left.map((group, index) => plainProduct2d(group, right[index] as tf.Tensor2D))) as tf.Tensor3D;
  });
}
