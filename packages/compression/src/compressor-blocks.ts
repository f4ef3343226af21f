// Pure block arithmetic shared by compressors: per-layer seeds, compression blocks and their mean positions (SPEC 3).
import * as tf from '@tensorflow/tfjs';

/** Per-layer seed: distinct for every (seed, layer) pair, stable across runs. */
export function layerSeed(seed: number, layer: number): number {
  return (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(layer + 1, 0x85ebca6b)) >>> 0;
}

/**
 * Position of each compressed slot: the floor of the mean position of the `rate` memories it summarises (SPEC 3).
 * Exact for any int32 position: the mean is taken of the offsets from each block's first position (small integers),
 * because integer division on some backends (wasm) goes through float32 and rounds large sums.
 * @param positions int32 `[batch, n]`, n a multiple of `rate`, non-decreasing inside each block
 * @returns int32 `[batch, n / rate]`
 */
export function blockMeanPositions(positions: tf.Tensor2D, rate: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, length] = positions.shape;
    const blocks = tf.reshape(positions, [batch, length / rate, rate]);
    const first = tf.slice(blocks, [0, 0, 0], [-1, -1, 1]);
    const offsets = tf.sum(tf.sub(blocks, first), 2);
    const meanOffset = tf.floorDiv(offsets, tf.scalar(rate, 'int32'));
    return tf.add(tf.reshape(first, [batch, length / rate]), meanOffset) as tf.Tensor2D;
  });
}

/**
 * Reshapes an evicted block into its compression blocks.
 * @param hidden `[batch, n, dim]`, n a multiple of `rate`
 * @returns `[batch, n / rate, rate, dim]`
 */
export function toBlocks(hidden: tf.Tensor3D, rate: number): tf.Tensor4D {
  const [batch, length, width] = hidden.shape;
  return tf.reshape(hidden, [batch, length / rate, rate, width]);
}
