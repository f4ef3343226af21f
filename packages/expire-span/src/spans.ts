// Expire-Span formulas of SPEC 4 (Sukhbaatar et al. 2021, eqs. 1-4): span prediction, soft ramp mask, span loss, pruning plan.
import * as tf from '@tensorflow/tfjs';
import { positionDistances } from '@engram/kernels';

/**
 * Predicted expire-spans `e_i = maxSpan * sigmoid(w . (h_i / preDiv) + b)` (SPEC 4), one per memory,
 * shared by every head of the layer.
 *
 * @param hidden layer inputs `[batch, slots, modelDim]` (memory and/or current segment)
 * @param weight span predictor weight `[modelDim]`
 * @param bias span predictor bias `[]`
 * @returns spans in tokens `[batch, slots]`, each in `(0, maxSpan)`
 */
export function predictSpans(
  hidden: tf.Tensor3D,
  weight: tf.Tensor1D,
  bias: tf.Scalar,
  maxSpan: number,
  preDiv: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, slots, width] = hidden.shape;
    const flat = tf.reshape(hidden, [batch * slots, width]);
    // w . (h / preDiv) == (w . h) / preDiv: divide the [batch*slots, 1] product, not the [batch*slots, D] input.
    let logits: tf.Tensor = tf.matMul(flat, tf.reshape(weight, [width, 1]));
    if (preDiv !== 1) logits = tf.div(logits, preDiv);
    logits = tf.add(tf.reshape(logits, [batch, slots]), bias);
    return tf.mul(tf.sigmoid(logits), maxSpan) as tf.Tensor2D;
  });
}

/**
 * Distances `t - t_i` between every query and every key, float32 `[batch, queries, keys]`
 * (negative for keys in the future of the query).
 *
 * @param queryPositions int32 `[batch, queries]`
 * @param keyPositions int32 `[batch, keys]`
 */
export function queryKeyDistances(queryPositions: tf.Tensor2D, keyPositions: tf.Tensor2D): tf.Tensor3D {
  return positionDistances(queryPositions, keyPositions);
}

/** Output of {@link expireSpanMask}. */
export interface ExpireSpanMask {
  /** Remaining spans `r_ti = e_i - (t - t_i)`, `[batch, queries, keys]`. */
  remaining: tf.Tensor3D;
  /** Soft mask `clamp(1 + r_ti / R, 0, 1)` times the causal mask, `[batch, queries, keys]`. */
  mask: tf.Tensor3D;
}

/**
 * The soft ramp mask of SPEC 4: `m_ti = clamp(1 + r_ti / R, 0, 1) * [t_i <= t]` with the remaining span
 * `r_ti = e_i - (t - t_i)`. Differentiable with respect to the spans (the gradient is `1/R` on the ramp).
 *
 * @param spans `[batch, keys]` spans of the keys (already clamped by the noise, if any)
 * @param distances `[batch, queries, keys]` from {@link queryKeyDistances}
 * @param ramp R, the length of the linear ramp in tokens
 */
export function expireSpanMask(spans: tf.Tensor2D, distances: tf.Tensor3D, ramp: number): ExpireSpanMask {
  return tf.tidy(() => {
    const remaining = tf.sub(tf.expandDims(spans, 1), distances) as tf.Tensor3D;
    const causal = tf.cast(tf.greaterEqual(distances, 0), 'float32');
    const ramped = tf.clipByValue(tf.add(tf.div(remaining, ramp), 1), 0, 1);
    const mask = tf.mul(ramped, causal) as tf.Tensor3D;
    return { remaining, mask };
  });
}

/**
 * The Expire-Span auxiliary loss of one layer (SPEC 4):
 * `alpha / (R * T) * sum over (query, key) pairs with 0 < m_ti < 1 of r_ti`, averaged over the batch,
 * where T is the number of queries. Its gradient with respect to a span is `alpha / (R * T)` times the
 * number of queries that see that key on the ramp, so over the R queries of a memory's ramp it pulls the
 * span down by `alpha / T` (per batch row, divided by the batch size).
 *
 * @param remaining `[batch, queries, keys]`
 * @param mask `[batch, queries, keys]` (causal already applied, so future keys never count)
 * @returns a scalar
 */
export function expireSpanAuxiliaryLoss(
  remaining: tf.Tensor3D,
  mask: tf.Tensor3D,
  alpha: number,
  ramp: number,
): tf.Scalar {
  return tf.tidy(() => {
    const [batch, queries] = remaining.shape;
    // step(x) = 1 for x > 0, else 0, with a zero gradient: the on-ramp indicator is a constant for the tape.
    const onRamp = tf.mul(tf.step(mask), tf.step(tf.sub(1, mask)));
    const total = tf.sum(tf.mul(remaining, onRamp));
    return tf.mul(total, alpha / (ramp * queries * batch)) as tf.Scalar;
  });
}

/** Inputs of {@link planPruning}: plain arrays read from the memory of one layer. */
export interface PruningInput {
  /** Un-noised spans of the memories, row-major `[batch, slots]`. */
  spans: ArrayLike<number>;
  /** Positions of the memories, row-major `[batch, slots]`, increasing within a row. */
  positions: ArrayLike<number>;
  batch: number;
  slots: number;
  /** Position of the first query of the next step (the new `tokensSeen`). */
  nextQueryPosition: number;
  /** R. */
  ramp: number;
  /** Drop counts are rounded down to a multiple of this (T, the segment length). */
  blockSize: number;
}

/** What {@link planPruning} decided. */
export interface PruningPlan {
  /** Memories that can never be seen again, per row. */
  droppableCounts: number[];
  /** Memories dropped from every row: `floor(min(droppableCounts) / blockSize) * blockSize`. */
  dropCount: number;
  /** Per row, the slot indices kept, in increasing (temporal) order; each has `slots - dropCount` entries. */
  keep: number[][];
}

/**
 * Which memories to drop after a step (SPEC 4). A memory is droppable when
 * `e_i - (nextQueryPosition - t_i) + R <= 0`: even the first query of the next step sees it with
 * mask 0, and later queries are further away. Every row drops the same number, the minimum
 * droppable count over rows rounded down to a multiple of `blockSize`; a row with more droppable
 * memories than that drops its oldest droppable ones first, keeping the rest (rows keep their own
 * positions, so memories become non-contiguous).
 */
export function planPruning(input: PruningInput): PruningPlan {
  const { spans, positions, batch, slots, nextQueryPosition, ramp, blockSize } = input;
  const droppable: boolean[][] = [];
  const droppableCounts: number[] = [];
  for (let row = 0; row < batch; row++) {
    const flags: boolean[] = [];
    let count = 0;
    for (let slot = 0; slot < slots; slot++) {
      const index = row * slots + slot;
      const age = nextQueryPosition - (positions[index] as number);
      const expired = !((spans[index] as number) - age + ramp > 0);
      flags.push(expired);
      if (expired) count++;
    }
    droppable.push(flags);
    droppableCounts.push(count);
  }
  const fewest = batch === 0 ? 0 : Math.min(...droppableCounts);
  const dropCount = Math.floor(fewest / blockSize) * blockSize;
  const keep = droppable.map((flags) => {
    const kept: number[] = [];
    let dropped = 0;
    flags.forEach((expired, slot) => {
      if (expired && dropped < dropCount) dropped++;
      else kept.push(slot);
    });
    return kept;
  });
  return { droppableCounts, dropCount, keep };
}
