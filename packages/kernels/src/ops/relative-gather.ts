// Relative-position scores for arbitrary key positions: distance index, causal mask, and the gather (SPEC 2.2, path 2).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { RELATIVE_GATHER, RELATIVE_SCATTER, type RelativeScatterAttrs } from '../kernels/relative-gather.js';
import { POSITION_DISTANCES, RELATIVE_DISTANCE_INDEX, type RelativeDistanceAttrs } from '../kernels/position-kernels.js';
import { assertDtype, assertInteger, assertTensor, describeShape } from './validate.js';

/** Options of `gatherRelativeScores`. */
export interface GatherRelativeScoresOptions {
  /**
   * Check that every value of `distanceIndex` lies in `[0, P)` and throw otherwise (the kernels would read 0 there).
   * This is the op's only host read: the index's minimum and maximum are reduced on the device and read back (two
   * int32 values, a synchronous wait for the device); the whole index is read only to name the first bad entry.
   * Default true; switch off on a hot path whose index comes from `relativeDistanceIndex` (attention does, and the
   * fused `relativeAttentionCore` never validates).
   */
  validateIndex?: boolean;
}

/**
 * Picks, for every (query, key) pair, the position score of their distance:
 * `out[b,h,i,j] = positionScores[b,h,i, distanceIndex[b,i,j]]`.
 *
 * Forward: one gather on the flattened scores. Backward: one scatter-add (`tf.scatterND`, which sums duplicate
 * indices) into the flattened scores, registered with `tf.customGrad`. This needs neither `UnsortedSegmentSum`
 * (missing on wasm, quadratic on cpu) nor a one-hot matmul (about P times more arithmetic); see the README for the
 * measurement.
 * @param positionScores `[B or 1, H, T, P]` scores of every query against every distance bucket 0..P-1
 *   (a leading 1 broadcasts over the batch of `distanceIndex`)
 * @param distanceIndex int32 `[B, T, K]` with values in `[0, P)`
 * @returns `[B, H, T, K]`
 */
export function gatherRelativeScores(
  positionScores: tf.Tensor4D,
  distanceIndex: tf.Tensor3D,
  options: GatherRelativeScoresOptions = {},
): tf.Tensor4D {
  const operation = 'gatherRelativeScores';
  assertTensor(operation, 'positionScores', positionScores, 4, '[batch, heads, queries, distances]');
  assertTensor(operation, 'distanceIndex', distanceIndex, 3, '[batch, queries, keys]');
  assertDtype(operation, 'distanceIndex', distanceIndex, ['int32']);
  const [scoreBatch, heads, queries, distances] = positionScores.shape;
  const [batch, indexQueries, keys] = distanceIndex.shape;
  if ((scoreBatch !== batch && scoreBatch !== 1) || indexQueries !== queries) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'distanceIndex',
      expected: `[batch, ${queries}, keys] with batch ${scoreBatch === 1 ? 'any size' : `= ${scoreBatch}`} ` +
        `(positionScores has ${describeShape(positionScores.shape)})`,
      actual: describeShape(distanceIndex.shape),
    });
  }
  if ((options.validateIndex ?? true) && distanceIndex.size > 0) {
    const range = tf.tidy(() => tf.stack([tf.min(distanceIndex), tf.max(distanceIndex)]));
    const [smallest, largest] = range.dataSync() as Int32Array;
    range.dispose();
    const values = (smallest as number) < 0 || (largest as number) >= distances ? distanceIndex.dataSync() : [];
    for (let position = 0; position < values.length; position++) {
      const value = values[position] as number;
      if (value < 0 || value >= distances) {
        throw new InvalidArgumentError({
          operation,
          parameter: 'distanceIndex',
          expected: `values in [0, ${distances}) (the last axis of positionScores)`,
          actual: `${value} at flat position ${position}`,
          fix: 'Clamp distances to the number of position buckets minus one (see relativeDistanceIndex).',
        });
      }
    }
  }
  const total = scoreBatch * heads * queries * distances;
  if (total >= 2 ** 31) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'positionScores',
      expected: 'fewer than 2^31 elements (int32 flat indices)',
      actual: describeShape(positionScores.shape),
    });
  }
  if (tf.getKernel(RELATIVE_GATHER, tf.getBackend()) !== undefined) return gatherWithKernels(positionScores, distanceIndex);
  return tf.tidy(() => {
    const flatIndex = flatGatherIndex(positionScores.shape, distanceIndex);
    const gatherFlat = tf.customGrad((...args) => {
      const scores = args[0] as tf.Tensor;
      const save = args[1] as tf.GradSaveFunc;
      save([flatIndex]);
      const value = tf.reshape(tf.gather(tf.reshape(scores, [total]), flatIndex), [batch, heads, queries, keys]);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => scatterFlat(dy, saved[0] as tf.Tensor1D, positionScores.shape);
      return { value, gradFunc };
    });
    return gatherFlat(positionScores) as tf.Tensor4D;
  });
}

/** int32 `[B*H*T*K]`: the flat offset in the scores `[B or 1, H, T, P]` of every gathered element (the op path). */
function flatGatherIndex(scoreShape: readonly number[], distanceIndex: tf.Tensor3D): tf.Tensor1D {
  const [scoreBatch, heads, queries, distances] = scoreShape as [number, number, number, number];
  const [batch, , keys] = distanceIndex.shape;
  return tf.tidy(() => {
    // rowStart[b,h,i] = flat offset of positionScores[b or 0, h, i, 0].
    const rowStart = new Int32Array(batch * heads * queries);
    for (let b = 0; b < batch; b++) {
      const sourceBatch = scoreBatch === 1 ? 0 : b;
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < queries; i++) {
          rowStart[(b * heads + h) * queries + i] = ((sourceBatch * heads + h) * queries + i) * distances;
        }
      }
    }
    return tf.reshape(
      tf.add(tf.tensor4d(rowStart, [batch, heads, queries, 1], 'int32'), tf.reshape(distanceIndex, [batch, 1, queries, keys])),
      [-1],
    ) as tf.Tensor1D;
  });
}

/** The adjoint of the flat gather: scatter-add `dy` back into scores of `scoreShape` (duplicates sum). */
function scatterFlat(dy: tf.Tensor, flatIndex: tf.Tensor1D, scoreShape: readonly number[]): tf.Tensor4D {
  const total = scoreShape.reduce((product, size) => product * size, 1);
  return tf.tidy(() => {
    const summed = tf.scatterND(tf.reshape(flatIndex, [-1, 1]), tf.reshape(dy, [-1]), [total]);
    return tf.reshape(summed, scoreShape as [number, number, number, number]) as tf.Tensor4D;
  });
}

/**
 * Untaped forward of {@link gatherRelativeScores} for fused ops (no validation): Engram's kernel when registered,
 * else the flat gather. Pair it with {@link relativeScatter} for the gradient.
 * @param positionScores `[B or 1, H, T, P]`
 * @param distanceIndex int32 `[B, T, K]` with values in `[0, P)`
 * @returns `[B, H, T, K]`
 */
export function relativeGather(positionScores: tf.Tensor4D, distanceIndex: tf.Tensor3D): tf.Tensor4D {
  if (tf.getKernel(RELATIVE_GATHER, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(RELATIVE_GATHER, { scores: positionScores, index: distanceIndex }) as tf.Tensor4D;
  }
  const [batch, heads, queries] = [distanceIndex.shape[0], positionScores.shape[1], positionScores.shape[2]];
  return tf.tidy(() => {
    const flat = tf.reshape(positionScores, [positionScores.size]);
    return tf.reshape(tf.gather(flat, flatGatherIndex(positionScores.shape, distanceIndex)), [batch, heads, queries, distanceIndex.shape[2]]) as tf.Tensor4D;
  });
}

/**
 * The adjoint of {@link relativeGather} (its gradient): `dy` `[B, H, T, K]` summed into `[scoreBatch, H, T, P]`.
 * @param scoreShape the shape of the gathered scores `[B or 1, H, T, P]`
 */
export function relativeScatter(dy: tf.Tensor4D, distanceIndex: tf.Tensor3D, scoreShape: readonly number[]): tf.Tensor4D {
  if (tf.getKernel(RELATIVE_SCATTER, tf.getBackend()) !== undefined) {
    const attrs: RelativeScatterAttrs = { scoreBatch: scoreShape[0] as number, distances: scoreShape[3] as number };
    return tf.engine().runKernel(RELATIVE_SCATTER, { dy, index: distanceIndex }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  return tf.tidy(() => scatterFlat(dy, flatGatherIndex(scoreShape, distanceIndex), scoreShape));
}

/**
 * The same gather through Engram's registered kernels (wasm, `registerMissingKernels`): one pass each way, no flat
 * index tensor, no int32 broadcast, no GatherV2/ScatterNd (measured 20-60 ms per call at the tiny bench shape on
 * wasm). Values and gradients equal the op path (tested).
 */
function gatherWithKernels(positionScores: tf.Tensor4D, distanceIndex: tf.Tensor3D): tf.Tensor4D {
  const gather = tf.customGrad((...args) => {
    const scores = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    save([distanceIndex]);
    const value = relativeGather(scores, distanceIndex);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => relativeScatter(dy as tf.Tensor4D, saved[0] as tf.Tensor3D, positionScores.shape);
    return { value, gradFunc };
  });
  return gather(positionScores) as tf.Tensor4D;
}

/** Result of `relativeDistanceIndex`; the caller owns (and disposes) both tensors. */
export type RelativeDistanceIndex = {
  /** int32 `[B, T, K]`: `min(max(tq - tk, 0), clampLength)`, ready for `gatherRelativeScores`. */
  index: tf.Tensor3D;
  /** float32 `[B, T, K]`: 1 where the key is visible to the query (`tk <= tq`, and `tq - tk < window` when given), else 0. */
  causal: tf.Tensor3D;
};

/**
 * Distance buckets and causal mask for queries and keys at arbitrary absolute positions (SPEC 2.2 `clampLen`).
 * A leading batch size of 1 on either side broadcasts.
 * @param queryPositions int32 `[B, T]` absolute positions of the queries
 * @param keyPositions int32 `[B, K]` absolute positions of the keys
 * @param clampLength largest distance bucket; farther keys share it (use P-1 for P position buckets)
 * @param options.window Transformer-XL's same_length: also hide keys at distance >= window (an integer >= 1)
 */
export function relativeDistanceIndex(
  queryPositions: tf.Tensor2D,
  keyPositions: tf.Tensor2D,
  clampLength: number,
  options: { window?: number } = {},
): RelativeDistanceIndex {
  assertInteger('relativeDistanceIndex', 'clampLength', clampLength, 0);
  if (options.window !== undefined) assertInteger('relativeDistanceIndex', 'window', options.window, 1);
  checkPositions('relativeDistanceIndex', queryPositions, keyPositions);
  if (tf.getKernel(RELATIVE_DISTANCE_INDEX, tf.getBackend()) !== undefined) {
    const attrs: RelativeDistanceAttrs = { clampLength, window: options.window ?? 0 };
    const [index, causal] = tf.engine().runKernel(RELATIVE_DISTANCE_INDEX, { queryPositions, keyPositions }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor3D, tf.Tensor3D];
    return { index, causal };
  }
  return tf.tidy(() => {
    const delta = positionDistances(queryPositions, keyPositions);
    const index = tf.cast(tf.clipByValue(delta, 0, clampLength), 'int32') as tf.Tensor3D;
    // Distances are whole numbers, so `delta + 0.5 > 0` is `tk <= tq` (tf.step is 1 above 0, else 0), and
    // `window - 0.5 - delta > 0` is `delta < window`.
    const visible = tf.step(tf.add(delta, 0.5));
    const causal = (options.window === undefined ? visible : tf.mul(visible, tf.step(tf.sub(options.window - 0.5, delta)))) as tf.Tensor3D;
    return { index, causal };
  });
}

/** int32 `[B, T]` queries and `[B, K]` keys whose batch sizes agree or one of them is 1. */
function checkPositions(operation: string, queryPositions: tf.Tensor2D, keyPositions: tf.Tensor2D): void {
  assertTensor(operation, 'queryPositions', queryPositions, 2, '[batch, queries]');
  assertTensor(operation, 'keyPositions', keyPositions, 2, '[batch, keys]');
  assertDtype(operation, 'queryPositions', queryPositions, ['int32']);
  assertDtype(operation, 'keyPositions', keyPositions, ['int32']);
  const queryBatch = queryPositions.shape[0];
  const keyBatch = keyPositions.shape[0];
  if (queryBatch !== keyBatch && queryBatch !== 1 && keyBatch !== 1) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'keyPositions',
      expected: `a batch size equal to queryPositions' (${queryBatch}) or 1`,
      actual: describeShape(keyPositions.shape),
    });
  }
}

/**
 * Distances `tq - tk` between every query and every key, float32 `[B, T, K]` (negative for keys after the query),
 * exact for absolute positions of any size: each row is rebased on its first query position in int32 on the small
 * `[B, T]` and `[B, K]` tensors, so only the rebased values meet in float32. Exact while every key and query lies
 * within 2^24 (16.7M) positions of its row's first query. This is the one place query-key distances are computed:
 * broadcasting int32 arithmetic over `[B, T, K]` runs about 60x slower than float32 on tfjs-backend-wasm 4.22
 * (measured: 25 ms against 0.4 ms at [8, 64, 128]).
 * A leading batch size of 1 on either side broadcasts.
 * @param queryPositions int32 `[B, T]` (or `[1, T]`)
 * @param keyPositions int32 `[B, K]` (or `[1, K]`)
 */
export function positionDistances(queryPositions: tf.Tensor2D, keyPositions: tf.Tensor2D): tf.Tensor3D {
  checkPositions('positionDistances', queryPositions, keyPositions);
  if (tf.getKernel(POSITION_DISTANCES, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(POSITION_DISTANCES, { queryPositions, keyPositions }) as tf.Tensor3D;
  }
  return tf.tidy(() => {
    const origin = tf.slice(queryPositions, [0, 0], [-1, 1]); // [B or 1, 1]
    const queries = tf.cast(tf.sub(queryPositions, origin), 'float32');
    const keys = tf.cast(tf.sub(keyPositions, origin), 'float32');
    return tf.sub(tf.expandDims(queries, 2), tf.expandDims(keys, 1)) as tf.Tensor3D;
  });
}
