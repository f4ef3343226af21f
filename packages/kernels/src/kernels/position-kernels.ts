// Query-key distances and the relative-attention distance index from int32 positions, each one pass over the heap instead of a chain of broadcast ops.
import type * as tf from '@tensorflow/tfjs';
import { asWasmBackend } from './wasm-backend.js';

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

/** Which output a distance pass writes: the distances themselves, or the bucket index and the causal mask. */
type DistanceOutputs =
  | { kind: 'distances'; out: Float32Array }
  | { kind: 'index'; index: Int32Array; causal: Float32Array; clampLength: number; window: number };

/**
 * Writes every element of `[B, T, K]` in row-major order, with the distance computed as `positionDistances`' ops
 * compute it: both positions rebased on the row's first query position in int32, each rounded to float32, then one
 * float32 subtraction (the same bits). The loops are written out per output kind (no per-element callback), so
 * each stays monomorphic on the hot path.
 */
function writeDistances(
  query: Int32Array,
  key: Int32Array,
  shape: { queryBatch: number; keyBatch: number; queries: number; keys: number; batch: number },
  outputs: DistanceOutputs,
): void {
  const { queryBatch, keyBatch, queries, keys, batch } = shape;
  const keyFloats = new Float32Array(keys);
  let at = 0;
  for (let row = 0; row < batch; row++) {
    const queryRow = queryBatch === 1 ? 0 : row * queries;
    const keyRow = keyBatch === 1 ? 0 : row * keys;
    const origin = query[queryRow] as number;
    for (let j = 0; j < keys; j++) keyFloats[j] = ((key[keyRow + j] as number) - origin) | 0;
    for (let i = 0; i < queries; i++) {
      const queryFloat = Math.fround(((query[queryRow + i] as number) - origin) | 0);
      if (outputs.kind === 'distances') {
        const out = outputs.out;
        for (let j = 0; j < keys; j++) out[at++] = queryFloat - (keyFloats[j] as number);
      } else {
        const { index, causal, clampLength, window } = outputs;
        for (let j = 0; j < keys; j++, at++) {
          const distance = Math.fround(queryFloat - (keyFloats[j] as number));
          index[at] = distance <= 0 ? 0 : distance >= clampLength ? clampLength : distance;
          causal[at] = distance >= 0 && (window === 0 || distance < window) ? 1 : 0;
        }
      }
    }
  }
}

/** {@link POSITION_DISTANCES}: float32 `tq - tk` for every query and key. */
export const positionDistancesKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const rows = positionRows(backend, inputs, POSITION_DISTANCES);
  const output = rows.heap.makeOutput([rows.batch, rows.queries, rows.keys], 'float32');
  const out = rows.heap.typedArrayFromHeap(output) as Float32Array;
  const query = rows.heap.typedArrayFromHeap(rows.queryPositions) as Int32Array;
  const key = rows.heap.typedArrayFromHeap(rows.keyPositions) as Int32Array;
  writeDistances(query, key, rows, { kind: 'distances', out });
  return output;
};

/**
 * {@link RELATIVE_DISTANCE_INDEX}: `index = int32(clip(tq - tk, 0, clampLength))` and `causal = 1` where `tk <= tq`
 * (and `tq - tk < window` when a window is set), else 0, as `relativeDistanceIndex`'s ops compute them.
 */
export const relativeDistanceIndexKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const rows = positionRows(backend, inputs, RELATIVE_DISTANCE_INDEX);
  const { clampLength, window } = attrs as unknown as RelativeDistanceAttrs;
  const shape = [rows.batch, rows.queries, rows.keys];
  const indexInfo = rows.heap.makeOutput(shape, 'int32');
  const causalInfo = rows.heap.makeOutput(shape, 'float32');
  // Views after both allocations (an allocation may grow the heap and detach earlier views).
  const index = rows.heap.typedArrayFromHeap(indexInfo) as Int32Array;
  const causal = rows.heap.typedArrayFromHeap(causalInfo) as Float32Array;
  const query = rows.heap.typedArrayFromHeap(rows.queryPositions) as Int32Array;
  const key = rows.heap.typedArrayFromHeap(rows.keyPositions) as Int32Array;
  writeDistances(query, key, rows, { kind: 'index', index, causal, clampLength, window });
  return [indexInfo, causalInfo];
};
