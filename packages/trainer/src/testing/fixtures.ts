// Tiny models and texts shared by the trainer's tests and its kill-and-resume child process.
import * as tf from '@tensorflow/tfjs';
import { createByteTokenizer, StreamBatcher } from '@engram/datasets';
import { createFifoPolicy } from '@engram/memory';
import type { MemoryPolicy } from '@engram/memory';
import { createModel } from '@engram/model';
import type { MemoryTransformer } from '@engram/model';

/** A short deterministic text (about 1 KB). */
export const TINY_TEXT = Array.from(
  { length: 24 },
  (_, index) => `Line ${index}: the quick brown fox jumps over the lazy dog ${index % 5} times.\n`,
).join('');

/** Byte tokens of {@link TINY_TEXT}. */
export function tinyTokens(): Int32Array {
  return createByteTokenizer().encode(TINY_TEXT);
}

/** A two-layer model of width 16 over bytes, segment length 8 (a few thousand parameters); dropout rates default to 0. */
export function createTinyModel(seed = 7, options: { dropout?: number; attentionDropout?: number } = {}): MemoryTransformer {
  return createModel({
    vocabSize: 256,
    modelDim: 16,
    numHeads: 2,
    numLayers: 2,
    feedForwardDim: 32,
    segmentLength: 8,
    seed,
    dropout: options.dropout ?? 0,
    attentionDropout: options.attentionDropout ?? 0,
  });
}

/** Training batches of {@link TINY_TEXT}: 2 rows, segments of 8 bytes. */
export function createTinyBatcher(): StreamBatcher {
  return new StreamBatcher(tinyTokens(), { batchSize: 2, segmentLength: 8 });
}

/**
 * FIFO memory plus one variable trained only by a separate loss (like a compressor trained by
 * attention reconstruction): the loss pulls `probe` [modelDim] towards the mean of the first
 * layer's input. Exercises the trainer's separate optimizer and its checkpointing.
 */
export function createProbePolicy(modelDim: number, memoryLength: number): MemoryPolicy {
  const fifo = createFifoPolicy({ memoryLength });
  const probe = tf.variable(tf.ones([modelDim]), true, `probe-policy-${Math.random().toString(36).slice(2)}/probe`);
  return {
    ...fifo,
    kind: 'fifo-probe',
    separateVariables: () => [probe],
    separateLoss: (_state, record) =>
      tf.tidy(() => {
        const first = record.layerInputs[0] as tf.Tensor3D;
        return tf.mean(tf.square(tf.sub(probe, tf.mean(first, [0, 1])))) as tf.Scalar;
      }),
    config: () => ({ kind: 'fifo-probe', memoryLength }),
    dispose: () => {
      probe.dispose();
      fifo.dispose();
    },
  };
}

/** {@link createTinyModel} with a {@link createProbePolicy}. */
export function createTinyProbeModel(seed = 7): MemoryTransformer {
  return createModel(
    { vocabSize: 256, modelDim: 16, numHeads: 2, numLayers: 2, feedForwardDim: 32, segmentLength: 8, seed },
    { policy: createProbePolicy(16, 8) },
  );
}
