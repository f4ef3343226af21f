// Example quoted in the README: a user-written compressor (a learned weighted average of each block) in a model.
import * as tf from '@tensorflow/tfjs';
import { createCompressivePolicy, defineCompressor, toBlocks } from '@engram/compression';
import type { Compressor } from '@engram/compression';
import { createModel } from '@engram/model';

/** Each compressed slot is a learned convex combination of the `rate` memories of its block. */
export function createWeightedAverageCompressor(options: { rate: number }): Compressor {
  return defineCompressor({
    kind: 'weighted-average',
    rate: options.rate,
    trainable: true,
    build: ({ rate, variable }) => {
      const logits = variable('logits', tf.zeros([rate])); // starts as mean-pool
      return {
        compress: ({ hidden }) =>
          tf.tidy(() => tf.sum(tf.mul(toBlocks(hidden, rate), tf.reshape(tf.softmax(logits), [rate, 1])), 2)),
      };
    },
  });
}

/** A small model whose memory is compressed by the compressor above, trained by attention reconstruction. */
export function createExampleModel() {
  const policy = createCompressivePolicy({
    memoryLength: 8, // n_m regular slots per layer
    compressedLength: 8, // n_cm compressed slots per layer
    compressor: createWeightedAverageCompressor({ rate: 2 }),
    training: 'attention-reconstruction',
  });
  const config = { vocabSize: 16, modelDim: 16, numHeads: 2, numLayers: 2, feedForwardDim: 32, segmentLength: 4 };
  return createModel(config, { policy });
}
