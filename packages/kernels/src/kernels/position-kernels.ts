// Query-key distances and the relative-attention distance index from int32 positions, each one pass of native/pairs.c instead of a chain of broadcast ops.
import type * as tf from '@tensorflow/tfjs';
import { pairsModule } from './pair-scores.js';
import { asWasmBackend, heapOffset } from './wasm-backend.js';

/** `queryPositions` int32 `[QB, T]`, `keyPositions` int32 `[KB, K]` (QB, KB in {1, B}) -> float32 distances `[B, T, K]`. */
export const POSITION_DISTANCES = 'EngramPositionDistances';
/** The same inputs -> `[index int32 [B, T, K], causal float32 [B, T, K]]` (attrs {@link RelativeDistanceAttrs}). */
export const RELATIVE_DISTANCE_INDEX = 'EngramRelativeDistanceIndex';

/** Attributes of {@link RELATIVE_DISTANCE_INDEX}. */
export interface RelativeDistanceAttrs {
  /** Largest distance bucket (an integer >= 0). */
  clampLength: number;
  /** Also hide keys at distance >= window (an integer >= 1); 0 for no window. */
  window: number;
}

/** The int32 position rows and the output's batch size (the larger of the two; a batch of 1 broadcasts). */
function positionRows(backend: unknown, inputs: tf.NamedTensorInfoMap, kernel: string) {
  const heap = asWasmBackend(backend, kernel);
  const { queryPositions, keyPositions } = inputs as Record<string, tf.TensorInfo>;
  if (queryPositions?.dtype !== 'int32' || keyPositions?.dtype !== 'int32' || queryPositions.shape.length !== 2 || keyPositions.shape.length !== 2) {
    throw new Error(`@engram/kernels: ${kernel} needs int32 queryPositions [B, T] and keyPositions [B, K].`);
  }
  const [queryBatch, queries] = queryPositions.shape as [number, number];
  const [keyBatch, keys] = keyPositions.shape as [number, number];
  return { heap, queryPositions, keyPositions, queryBatch, keyBatch, queries, keys, batch: Math.max(queryBatch, keyBatch) };
}

/**
 * One pass of native/pairs.c (`position_distances_f32`) over `[B, T, K]`, with the distance computed as
 * `positionDistances`' ops compute it: both positions rebased on the row's first query position in int32, each
 * rounded to float32, then one float32 subtraction (the same bits). `distances` set: the float32 distances; else the
 * clamped index and the causal mask.
 */
function writeDistances(
  backend: unknown,
  rows: ReturnType<typeof positionRows>,
  outputs: { distances: tf.TensorInfo } | { index: tf.TensorInfo; causal: tf.TensorInfo; clampLength: number; window: number },
): void {
  const { queryBatch, keyBatch, queries, keys, batch } = rows;
  if (batch * queries * keys === 0) return;
  const pairs = pairsModule(backend);
  const at = (info: tf.TensorInfo): number => heapOffset(pairs.backend, info);
  const [writesDistances, distances, index, causal, clampLength, window] =
    'distances' in outputs ? [1, at(outputs.distances), 0, 0, 0, 0] : [0, 0, at(outputs.index), at(outputs.causal), outputs.clampLength, outputs.window];
  pairs.distances(
    batch, queries, keys, at(rows.queryPositions), queryBatch === 1 ? 0 : queries, at(rows.keyPositions), keyBatch === 1 ? 0 : keys,
    writesDistances, distances, index, causal, clampLength, window,
  );
}

/** {@link POSITION_DISTANCES}: float32 `tq - tk` for every query and key. */
export const positionDistancesKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const rows = positionRows(backend, inputs, POSITION_DISTANCES);
  const distances = rows.heap.makeOutput([rows.batch, rows.queries, rows.keys], 'float32');
  writeDistances(backend, rows, { distances });
  return distances;
};

/**
 * {@link RELATIVE_DISTANCE_INDEX}: `index = int32(clip(tq - tk, 0, clampLength))` and `causal = 1` where `tk <= tq`
 * (and `tq - tk < window` when a window is set), else 0, as `relativeDistanceIndex`'s ops compute them.
 */
export const relativeDistanceIndexKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const rows = positionRows(backend, inputs, RELATIVE_DISTANCE_INDEX);
  const { clampLength, window } = attrs as unknown as RelativeDistanceAttrs;
  const shape = [rows.batch, rows.queries, rows.keys];
  const index = rows.heap.makeOutput(shape, 'int32');
  const causal = rows.heap.makeOutput(shape, 'float32');
  writeDistances(backend, rows, { index, causal, clampLength, window });
  return [index, causal];
};
