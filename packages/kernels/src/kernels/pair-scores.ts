// The per-pair relative position scores of native/pairs.c on the tfjs heap: the gather path's position term without a [B, H, T, P] table.
import type * as tf from '@tensorflow/tfjs';
import { PAIRS_WASM_BASE64 } from '../wasm/pairs-binary.js';
import { heapModule, heapOffset } from './wasm-backend.js';

/**
 * `queries` float32 `[B, T, H*d]`, `positions` float32 `[B or 1, P, H*d]`, `index` int32 `[B or 1, T, K]` (buckets in
 * `[0, P)`) -> scores `[B, H, T, K]`: `out[b,h,i,j] = queries[b,i,h*d:(h+1)*d] . positions[b, index[b,i,j], h*d:(h+1)*d]`.
 */
export const PAIR_SCORES = 'EngramPairScores';

/** Attributes of {@link PAIR_SCORES}. */
export interface PairScoresAttrs {
  /** H; the width of queries and positions is H * d. */
  heads: number;
}

/** native/pairs.c on a backend's heap: the per-pair scores, the table scatter of the gather path's backward, the query-key distances. */
export const pairsModule = heapModule(PAIRS_WASM_BASE64, 'the pair position-score kernels', { scores: 'pair_scores_f32', scatter: 'pair_scatter_f32', distances: 'position_distances_f32' });

/** The checked geometry, as the export takes it. */
function pairGeometry(kernel: string, inputs: tf.NamedTensorInfoMap, heads: number) {
  const { queries, positions, index } = inputs as Record<string, tf.TensorInfo>;
  const float3 = (info: tf.TensorInfo | undefined) => info !== undefined && info.dtype === 'float32' && info.shape.length === 3;
  if (!float3(queries) || !float3(positions) || index === undefined || index.dtype !== 'int32' || index.shape.length !== 3) {
    throw new Error(`@engram/kernels: ${kernel} needs float32 queries [B, T, D], positions [B or 1, P, D] and int32 index [B or 1, T, K].`);
  }
  const [batch, queryCount, width] = (queries as tf.TensorInfo).shape as [number, number, number];
  const [positionBatch, buckets, positionWidth] = (positions as tf.TensorInfo).shape as [number, number, number];
  const [indexBatch, indexQueries, keys] = index.shape as [number, number, number];
  if (
    !Number.isInteger(heads) || heads < 1 || width % heads !== 0 || positionWidth !== width || indexQueries !== queryCount ||
    (positionBatch !== 1 && positionBatch !== batch) || (indexBatch !== 1 && indexBatch !== batch)
  ) {
    throw new Error(
      `@engram/kernels: ${kernel}: queries [${(queries as tf.TensorInfo).shape}], positions [${(positions as tf.TensorInfo).shape}] and index [${index.shape}] ` +
        `do not fit [B, T, D], [B or 1, P, D], [B or 1, T, K] with D divisible by heads ${heads}.`,
    );
  }
  return {
    queries: queries as tf.TensorInfo,
    positions: positions as tf.TensorInfo,
    index,
    dims: [batch, heads, queryCount, keys, width / heads, buckets],
    positionStride: positionBatch === 1 ? 0 : buckets * width,
    indexStride: indexBatch === 1 ? 0 : queryCount * keys,
    empty: batch * queryCount * keys * width === 0 || buckets === 0,
  };
}

export const pairScoresKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { heads } = attrs as unknown as PairScoresAttrs;
  const geometry = pairGeometry(PAIR_SCORES, inputs, heads);
  const wasm = pairsModule(backend);
  const [batch, , queryCount, keys] = geometry.dims as [number, number, number, number];
  const output = wasm.backend.makeOutput([batch, heads, queryCount, keys], 'float32');
  const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
  if (!geometry.empty) {
    wasm.scores(...geometry.dims, at(geometry.queries), at(geometry.positions), geometry.positionStride, at(geometry.index), geometry.indexStride, at(output));
  } else if (batch * heads * queryCount * keys > 0) {
    (wasm.backend.typedArrayFromHeap(output) as Float32Array).fill(0);
  }
  return output;
};
