// Adaptive-Span formulas of SPEC 5 (Sukhbaatar et al. 2019, eq. 2-3): per-head soft span mask, span loss, memory limit.
import * as tf from '@tensorflow/tfjs';
import { positionDistances, spanRampMask } from '@engram/kernels';

/**
 * Distances `x = t_q - t_k` between every query and key, float32 `[batch, 1, queries, keys]`
 * (negative for keys in the future of the query), ready to broadcast against the heads.
 *
 * @param queryPositions int32 `[batch, queries]`
 * @param keyPositions int32 `[batch, keys]`
 */
export function headDistances(queryPositions: tf.Tensor2D, keyPositions: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => tf.expandDims(positionDistances(queryPositions, keyPositions), 1)) as tf.Tensor4D;
}

/**
 * The soft span mask of SPEC 5: `m_h(x) = clamp((R + z_h - x) / R, 0, 1)` with `z_h = ratio_h * S`, times the
 * causal mask `[x >= 0]`, computed as `clamp(1 + (z_h - x) / R, 0, 1)` by the kernels' `spanRampMask` (one wasm
 * pass each way with the fast kernels, no [B, H, T, K] intermediates). Differentiable with respect to the ratios
 * (gradient `S / R` on the ramp, its ends included as `tf.clipByValue`'s).
 *
 * @param ratios learned span ratios `z_h / S`, `[heads]`
 * @param distances `[batch, 1, queries, keys]` from {@link headDistances}
 * @param maxSpan S, the largest span in tokens
 * @param ramp R, the length of the ramp in tokens
 * @returns `[batch, heads, queries, keys]`
 */
export function adaptiveSpanMask(ratios: tf.Tensor1D, distances: tf.Tensor4D, maxSpan: number, ramp: number): tf.Tensor4D {
  return tf.tidy(() => spanRampMask(tf.reshape(tf.mul(ratios, maxSpan), [1, -1, 1, 1]) as tf.Tensor4D, distances, ramp));
}

/**
 * The span loss of one layer (SPEC 5): `alpha * S * mean_h(z_h / S)`, i.e. alpha times the mean span in tokens.
 *
 * @param ratios `[heads]`
 * @returns a scalar
 */
export function adaptiveSpanLoss(ratios: tf.Tensor1D, alpha: number, maxSpan: number): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(ratios), alpha * maxSpan) as tf.Scalar);
}

/**
 * Memory slots a layer keeps after a step: `min(S, ceil(z_max + R) + buffer)` where `z_max` is the layer's largest
 * span in tokens. A key at distance x gets weight only when `x < z_h + R`, so the first query of the next step needs
 * at most `ceil(z_max + R) - 1` memories; the buffer leaves room for spans that grow before the next trim.
 */
export function memoryLimit(largestRatio: number, maxSpan: number, ramp: number, buffer: number): number {
  // The mask computes z = ratio * S in float32; round the same way so that, e.g., 0.1 * 10 gives 1, not 1.0000000149.
  const span = Math.fround(Math.fround(Math.min(Math.max(largestRatio, 0), 1)) * maxSpan);
  return Math.min(maxSpan, Math.ceil(span + ramp) + buffer);
}
