// Relative-position gather and its scatter-add gradient for the wasm backend (SPEC 2.2 gather path): a JS pass over heap memory and native/pairs.c's scatter.
import * as tf from '@tensorflow/tfjs';
import { pairsModule } from './pair-scores.js';
import { asWasmBackend, heapOffset } from './wasm-backend.js';

/** Kernel name of the forward gather: `out[b,h,i,j] = scores[b or 0, h, i, index[b,i,j]]`. */
export const RELATIVE_GATHER = 'EngramRelativeGather';
/** Kernel name of its gradient: `out[sb,h,i,p] = sum over (b with b or 0 = sb, j with index[b,i,j] = p) of dy[b,h,i,j]`. */
export const RELATIVE_SCATTER = 'EngramRelativeScatter';

/** Attributes of {@link RELATIVE_SCATTER}: the shape of the scores the gradient is for. */
export interface RelativeScatterAttrs {
  /** Batch of the scores: the index's batch, or 1 when the scores broadcast over it. */
  scoreBatch: number;
  /** Distance buckets P. */
  distances: number;
}

/**
 * Forward. Inputs: `scores` float32 `[SB, H, T, P]` (SB = B or 1), `index` int32 `[B, T, K]` with values in
 * `[0, P)` (the op validates or trusts them; values outside are not read: they give 0).
 * Output float32 `[B, H, T, K]`. The wasm stock path (an int32 broadcast add to build flat indices, then
 * GatherV2) measured 20-60 ms per call at the tiny bench shape; this loop is one read and one write per element.
 */
export const relativeGatherKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = asWasmBackend(backend, RELATIVE_GATHER);
  const scoresInfo = inputs.scores as tf.TensorInfo;
  const indexInfo = inputs.index as tf.TensorInfo;
  const [scoreBatch, heads, queries, distances] = scoresInfo.shape as [number, number, number, number];
  const [batch, , keys] = indexInfo.shape as [number, number, number];
  const output = wasm.makeOutput([batch, heads, queries, keys], 'float32');
  // Views are taken after makeOutput: allocation may grow (and detach) the heap.
  const scores = wasm.typedArrayFromHeap(scoresInfo) as Float32Array;
  const index = wasm.typedArrayFromHeap(indexInfo) as Int32Array;
  const result = wasm.typedArrayFromHeap(output) as Float32Array;
  for (let b = 0; b < batch; b++) {
    const sourceBatch = scoreBatch === 1 ? 0 : b;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queries; i++) {
        const scoreRow = ((sourceBatch * heads + h) * queries + i) * distances;
        const indexRow = (b * queries + i) * keys;
        const outRow = ((b * heads + h) * queries + i) * keys;
        for (let j = 0; j < keys; j++) {
          const bucket = index[indexRow + j] as number;
          result[outRow + j] = bucket >= 0 && bucket < distances ? (scores[scoreRow + bucket] as number) : 0;
        }
      }
    }
  }
  return output;
};

/**
 * Gradient of {@link relativeGatherKernel}. Inputs: `dy` float32 `[B, H, T, K]`, `index` int32 `[B, T, K]`. One pass
 * of native/pairs.c (`pair_scatter_f32`): the same float adds in the same order as a loop here, about 4x faster.
 */
export const relativeScatterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const dyInfo = inputs.dy as tf.TensorInfo;
  const indexInfo = inputs.index as tf.TensorInfo;
  const { scoreBatch, distances } = attrs as unknown as RelativeScatterAttrs;
  const [batch, heads, queries, keys] = dyInfo.shape as [number, number, number, number];
  const pairs = pairsModule(backend);
  const output = pairs.backend.makeOutput([scoreBatch, heads, queries, distances], 'float32');
  const at = (info: tf.TensorInfo): number => heapOffset(pairs.backend, info);
  if (scoreBatch * heads * queries * distances > 0) {
    pairs.scatter(batch, heads, queries, keys, distances, scoreBatch, at(dyInfo), at(indexInfo), queries * keys, at(output));
  }
  return output;
};
