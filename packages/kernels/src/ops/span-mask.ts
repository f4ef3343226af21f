// The span methods' soft ramp mask from its small inputs and Expire-Span's ramp penalty, one wasm dispatch each way (SPEC 4, 5).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { SPAN_MASK, SPAN_MASK_GRAD, SPAN_PENALTY, type SpanKernelAttrs } from '../kernels/span-kernels.js';
import { assertDtype, assertTensor, describeShape } from './validate.js';

/**
 * The soft ramp mask of Expire-Span (SPEC 4) and Adaptive-Span (SPEC 5) from its small inputs:
 * `m[b,h,i,j] = clamp(1 + (s - x) / R, 0, 1) * [x >= 0]`, with the span `s = spans[b,h,0,j]` (broadcast) and the
 * query-key distance `x = distances[b,0,i,j]`. Expire-Span passes one span per key `[B, 1, 1, K]` (`s - x` is the
 * remaining span), Adaptive-Span one per head `[1, H, 1, 1]`. Differentiable with respect to the spans: the gradient
 * is `1 / R` per pair inside the clamp's closed range `[0, 1]` (as `tf.clipByValue`'s), 0 for future keys; the
 * distances are constants (no gradient).
 *
 * On wasm with the fast kernels registered the mask is one pass of native/span.c and its gradient another, summed
 * straight into the spans' shape; elsewhere it is the plain ops `clipByValue((s - x) / R + 1, 0, 1) * [x >= 0]`.
 * @param spans float32 `[B or 1, H or 1, 1, K or 1]`, in tokens
 * @param distances float32 `[B or 1, 1, T, K]`, query position minus key position (negative for future keys)
 * @param ramp R, the ramp length in tokens (> 0)
 * @returns float32 `[B, H, T, K]` (B and H the larger of the inputs')
 */
export function spanRampMask(spans: tf.Tensor4D, distances: tf.Tensor4D, ramp: number): tf.Tensor4D {
  const heads = checkSpanInputs('spanRampMask', spans, distances, ramp);
  const attrs: SpanKernelAttrs = { ramp, heads };
  if (tf.getKernel(SPAN_MASK, tf.getBackend()) === undefined) {
    return tf.tidy(() => tf.mul(clipped(spans, distances, ramp), causalOf(distances)) as tf.Tensor4D);
  }
  const op = tf.customGrad((...args) => {
    const [span, distance, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([span, distance]);
    return {
      value: tf.engine().runKernel(SPAN_MASK, { spans: span, distances: distance }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedSpans, savedDistances] = saved as [tf.Tensor4D, tf.Tensor4D];
        const gradient = tf.engine().runKernel(SPAN_MASK_GRAD, { dy, spans: savedSpans, distances: savedDistances }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        return [gradient, tf.zerosLike(savedDistances)];
      },
    };
  });
  return op(spans, distances) as tf.Tensor4D;
}

/**
 * Expire-Span's ramp penalty (SPEC 4, before its factor `alpha / (R T B)`): the sum of the remaining spans `s - x`
 * over the pairs whose mask {@link spanRampMask} is strictly on its ramp (`0 < m < 1`, future keys excluded).
 * Differentiable with respect to the spans: each span gets the number of its on-ramp pairs (the on-ramp test is a
 * constant). One pass of native/span.c on wasm with the fast kernels, the plain ops elsewhere.
 * @param spans float32 `[B or 1, H or 1, 1, K or 1]`
 * @param distances float32 `[B or 1, 1, T, K]`
 * @param ramp R (> 0)
 * @returns a scalar
 */
export function spanRampPenalty(spans: tf.Tensor4D, distances: tf.Tensor4D, ramp: number): tf.Scalar {
  const heads = checkSpanInputs('spanRampPenalty', spans, distances, ramp);
  const attrs: SpanKernelAttrs = { ramp, heads };
  if (tf.getKernel(SPAN_PENALTY, tf.getBackend()) === undefined) {
    return tf.tidy(() => {
      const mask = tf.mul(clipped(spans, distances, ramp), causalOf(distances));
      // tf.step has a zero gradient: the on-ramp indicator is a constant for the tape.
      const onRamp = tf.mul(tf.step(mask), tf.step(tf.sub(1, mask)));
      return tf.sum(tf.mul(tf.sub(spans, distances), onRamp)) as tf.Scalar;
    });
  }
  const op = tf.customGrad((...args) => {
    const [span, distance, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    const [sums, counts] = tf.engine().runKernel(SPAN_PENALTY, { spans: span, distances: distance }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([counts as tf.Tensor, distance]);
    const value = tf.sum(sums as tf.Tensor) as tf.Scalar;
    (sums as tf.Tensor).dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0] as tf.Tensor), tf.zerosLike(saved[1] as tf.Tensor)],
    };
  });
  return op(spans, distances) as tf.Scalar;
}

/** `clipByValue((s - x) / R + 1, 0, 1)` broadcast to `[B, H, T, K]` (the reference ops). */
function clipped(spans: tf.Tensor4D, distances: tf.Tensor4D, ramp: number): tf.Tensor {
  return tf.clipByValue(tf.add(tf.div(tf.sub(spans, distances), ramp), 1), 0, 1);
}

/** `[x >= 0]` as float32 (distances are whole numbers of tokens in the models, but any float works). */
function causalOf(distances: tf.Tensor4D): tf.Tensor {
  return tf.cast(tf.greaterEqual(distances, 0), 'float32');
}

/** Validates the span inputs; returns H of the output. */
function checkSpanInputs(operation: string, spans: tf.Tensor4D, distances: tf.Tensor4D, ramp: number): number {
  assertTensor(operation, 'spans', spans, 4, '[batch or 1, heads or 1, 1, keys or 1]');
  assertTensor(operation, 'distances', distances, 4, '[batch or 1, 1, queries, keys]');
  assertDtype(operation, 'spans', spans, ['float32']);
  assertDtype(operation, 'distances', distances, ['float32']);
  const [spanBatch, heads, spanQueries, spanKeys] = spans.shape;
  const [distanceBatch, distanceHeads, , keys] = distances.shape;
  if (distanceHeads !== 1) {
    throw new InvalidArgumentError({ operation, parameter: 'distances', expected: '[batch or 1, 1, queries, keys] (one distance per query-key pair, shared by the heads)', actual: describeShape(distances.shape) });
  }
  if (spanQueries !== 1 || (spanKeys !== 1 && spanKeys !== keys) || (spanBatch !== 1 && distanceBatch !== 1 && spanBatch !== distanceBatch)) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'spans',
      expected: `[${distanceBatch === 1 ? 'any batch' : `${distanceBatch} or 1`}, heads or 1, 1, ${keys} or 1] (one span per key or per head, broadcast over the queries)`,
      actual: describeShape(spans.shape),
    });
  }
  if (typeof ramp !== 'number' || !Number.isFinite(ramp) || ramp <= 0) {
    throw new InvalidArgumentError({ operation, parameter: 'ramp', expected: 'a finite number > 0 (tokens)', actual: String(ramp) });
  }
  return heads;
}
