// Example quoted in the README: a user-written memory policy, a FIFO whose keys fade with a learned rate per head.
import * as tf from '@tensorflow/tfjs';
import { defineMemoryPolicy } from '@engram/memory';
import type { MemoryPolicy } from '@engram/memory';

/**
 * FIFO memory of `memoryLength` slots per layer; head h scales its attention to a key x tokens back by
 * `exp(-softplus(r_h) * x / memoryLength)`, with r_h learned (starting at -2, a slow fade).
 */
export function createFadingMemoryPolicy(options: { memoryLength: number }): MemoryPolicy {
  const { memoryLength } = options;
  let rates: tf.Variable[] = [];
  return defineMemoryPolicy({
    kind: 'fading',
    factory: 'createFadingMemoryPolicy',
    config: () => ({ memoryLength }),
    temporalRange: (numLayers) => numLayers * memoryLength,
    // Variables: the model saves them as `policy.layers.<l>.fadeRate`.
    build: ({ dimensions, variable }) => {
      rates = Array.from({ length: dimensions.numLayers }, (_, layer) =>
        variable(`layers.${layer}.fadeRate`, tf.fill([dimensions.numHeads], -2)),
      );
    },
    // Append the segment, keep the newest memoryLength slots (the skeleton disposes the evicted ones).
    memoryLength: () => memoryLength,
    // Soft mask [batch, heads, queries, keys] from distances [batch, 1, queries, keys] and rates [1, heads, 1, 1].
    modulate: ({ layer, queryPositions, keyPositions }) =>
      tf.tidy(() => {
        const distance = tf.relu(tf.sub(tf.expandDims(queryPositions, 2), tf.expandDims(keyPositions, 1)));
        const rate = tf.reshape(tf.softplus(rates[layer] as tf.Variable), [1, -1, 1, 1]);
        const fade = tf.exp(tf.neg(tf.mul(rate, tf.div(tf.expandDims(tf.cast(distance, 'float32'), 1), memoryLength))));
        return { softMask: fade as tf.Tensor4D };
      }),
  });
}
