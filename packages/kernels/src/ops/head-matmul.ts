// Per-head products of multi-head attention read straight from the token-major [batch, length, heads * headDim] layout (SPEC 2.2), so no head split or merge transposes run.
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { assertDtype, assertInteger, assertTensor, describeShape } from './validate.js';

/** Kernel names (registered for wasm by `registerFastKernels`; the ops fall back to tfjs ops elsewhere). */
export const HEAD_SCORES = 'EngramHeadScores';
export const HEAD_APPLY = 'EngramHeadApply';
export const HEAD_APPLY_TRANSPOSED = 'EngramHeadApplyTransposed';

/** Attributes of the three head kernels. */
export interface HeadMatMulAttrs {
  heads: number;
}

/**
 * `x` `[B, L, H*d]` viewed per head: `[B, H, L, d]` (one transpose; the fallback path only).
 * `x` may have batch 1 where the other operand has more (it is then shared by every row).
 */
function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [batch, length, width] = x.shape;
  return tf.transpose(tf.reshape(x, [batch, length, heads, width / heads]), [0, 2, 1, 3]);
}

function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [batch, heads, length, headDim] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, length, heads * headDim]);
}

function broadcastBatch<T extends tf.Tensor>(x: T, batch: number): T {
  return (x.shape[0] === batch ? x : tf.tile(x, [batch, ...x.shape.slice(1).map(() => 1)])) as T;
}

const fallback = {
  scores: (x: tf.Tensor3D, y: tf.Tensor3D, heads: number): tf.Tensor4D =>
    tf.tidy(() => tf.matMul(splitHeads(x, heads), broadcastBatch(splitHeads(y, heads), x.shape[0]), false, true)),
  apply: (p: tf.Tensor4D, y: tf.Tensor3D, heads: number): tf.Tensor3D =>
    tf.tidy(() => mergeHeads(tf.matMul(p, broadcastBatch(splitHeads(y, heads), p.shape[0])))),
  applyTransposed: (p: tf.Tensor4D, x: tf.Tensor3D, heads: number): tf.Tensor3D =>
    tf.tidy(() => mergeHeads(tf.matMul(p, splitHeads(x, heads), true, false))),
};

function run(kernel: string, inputs: tf.NamedTensorMap, heads: number, orElse: () => tf.Tensor): tf.Tensor {
  if (tf.getKernel(kernel, tf.getBackend()) === undefined) return orElse();
  const attrs: HeadMatMulAttrs = { heads };
  return tf.engine().runKernel(kernel, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Sums a gradient over the rows of an operand that was broadcast from batch 1. */
export function reduceToBatch(gradient: tf.Tensor3D, batch: number): tf.Tensor3D {
  return gradient.shape[0] === batch ? gradient : (tf.sum(gradient, 0, true) as tf.Tensor3D);
}

/** The raw per-head kernels (untaped), for fused ops of this package: scores, apply, apply transposed. */
export const scoresOp = (x: tf.Tensor3D, y: tf.Tensor3D, heads: number): tf.Tensor4D =>
  run(HEAD_SCORES, { x, y }, heads, () => fallback.scores(x, y, heads)) as tf.Tensor4D;
export const applyOp = (p: tf.Tensor4D, y: tf.Tensor3D, heads: number): tf.Tensor3D =>
  run(HEAD_APPLY, { p, y }, heads, () => fallback.apply(p, y, heads)) as tf.Tensor3D;
export const applyTransposedOp = (p: tf.Tensor4D, x: tf.Tensor3D, heads: number): tf.Tensor3D =>
  run(HEAD_APPLY_TRANSPOSED, { p, x }, heads, () => fallback.applyTransposed(p, x, heads)) as tf.Tensor3D;

function checkHeads(operation: string, heads: number, width: number): void {
  assertInteger(operation, 'heads', heads, 1);
  if (width % heads !== 0) {
    throw new InvalidArgumentError({ operation, parameter: 'heads', expected: `a divisor of the width ${width}`, actual: String(heads) });
  }
}

function checkTokenMajor(operation: string, name: string, x: tf.Tensor, width: number, batch: number | null): void {
  assertTensor(operation, name, x, 3, '[batch, length, heads * headDim]');
  assertDtype(operation, name, x, ['float32']);
  if (x.shape[2] !== width || (batch !== null && x.shape[0] !== batch && x.shape[0] !== 1)) {
    throw new InvalidArgumentError({
      operation,
      parameter: name,
      expected: `[${batch === null ? 'batch' : `${batch} or 1`}, length, ${width}]`,
      actual: describeShape(x.shape),
    });
  }
}

/**
 * Per-head scores `out[b, h, i, j] = sum_e x[b, i, h*d + e] * y[b, j, h*d + e]` (queries against keys).
 * Gradients: `dx = headApply(dy, y)`, `dy = headApplyTransposed(dy, x)` (summed over rows when y broadcasts).
 * @param x float32 `[B, L1, H*d]`
 * @param y float32 `[B or 1, L2, H*d]` (batch 1 is shared by every row, e.g. projected position embeddings)
 * @returns `[B, H, L1, L2]`
 */
export function headScores(x: tf.Tensor3D, y: tf.Tensor3D, heads: number): tf.Tensor4D {
  const operation = 'headScores';
  checkTokenMajor(operation, 'x', x, x.shape[2], null);
  checkTokenMajor(operation, 'y', y, x.shape[2], x.shape[0]);
  checkHeads(operation, heads, x.shape[2]);
  const product = tf.customGrad((...args) => {
    const [left, right, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    save([left, right]);
    return {
      value: scoresOp(left, right, heads),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedLeft, savedRight] = saved as [tf.Tensor3D, tf.Tensor3D];
        const upstream = dy as tf.Tensor4D;
        const rightGradient = applyTransposedOp(upstream, savedLeft, heads);
        return [applyOp(upstream, savedRight, heads), reduceToBatch(rightGradient, savedRight.shape[0])];
      },
    };
  });
  return product(x, y) as tf.Tensor4D;
}

/**
 * Per-head weighted sums, heads merged: `out[b, i, h*d + e] = sum_j p[b, h, i, j] * y[b, j, h*d + e]`
 * (attention probabilities applied to values). Gradients: `dp = headScores(dy, y)`, `dy = headApplyTransposed(p, dy)`.
 * @param p float32 `[B, H, L1, L2]`
 * @param y float32 `[B, L2, H*d]`
 * @returns `[B, L1, H*d]`
 */
export function headApply(p: tf.Tensor4D, y: tf.Tensor3D, heads: number): tf.Tensor3D {
  const operation = 'headApply';
  assertTensor(operation, 'p', p, 4, '[batch, heads, L1, L2]');
  assertDtype(operation, 'p', p, ['float32']);
  checkTokenMajor(operation, 'y', y, y.shape[2], null);
  checkHeads(operation, heads, y.shape[2]);
  if (p.shape[0] !== y.shape[0] || p.shape[1] !== heads || p.shape[3] !== y.shape[1]) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'p',
      expected: `[${y.shape[0]}, ${heads}, L1, ${y.shape[1]}] (batch, heads and key length of y ${describeShape(y.shape)})`,
      actual: describeShape(p.shape),
    });
  }
  const product = tf.customGrad((...args) => {
    const [weights, values, save] = args as [tf.Tensor4D, tf.Tensor3D, tf.GradSaveFunc];
    save([weights, values]);
    return {
      value: applyOp(weights, values, heads),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedWeights, savedValues] = saved as [tf.Tensor4D, tf.Tensor3D];
        const upstream = dy as tf.Tensor3D;
        return [scoresOp(upstream, savedValues, heads), applyTransposedOp(savedWeights, upstream, heads)];
      },
    };
  });
  return product(p, y) as tf.Tensor3D;
}
