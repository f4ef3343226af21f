// Example quoted in the README: a model with compressive memory (conv compressor, attention reconstruction) in training.
import * as tf from '@tensorflow/tfjs';
import { createCompressivePolicy, createConvCompressor } from '@engram/compression';
import { disposeState } from '@engram/memory';
import { createModel } from '@engram/model';

/** Trains a tiny model for `steps` segments of two token streams; returns what a training log would show. */
export function quickStart(steps = 4) {
  const policy = createCompressivePolicy({
    memoryLength: 8, // n_m regular slots per layer
    compressedLength: 4, // n_cm compressed slots per layer
    compressor: createConvCompressor({ rate: 2, seed: 1 }), // c = 2, trained by attention reconstruction (default)
  });
  const segmentLength = 8;
  const model = createModel(
    { vocabSize: 32, modelDim: 16, numHeads: 2, numLayers: 2, feedForwardDim: 32, segmentLength, seed: 1 },
    { policy },
  );
  const optimizer = tf.train.adam(1e-2); // transformer weights, language-model loss
  const separateOptimizer = tf.train.adam(1e-2); // compressor weights, compression loss
  const streams = [0, 1].map((row) => Array.from({ length: steps * segmentLength + 1 }, (_, i) => (i * (row + 3)) % 32));
  const segment = (step: number, shift: number) =>
    tf.tensor2d(streams.map((tokens) => tokens.slice(step * segmentLength + shift, (step + 1) * segmentLength + shift)), undefined, 'int32');
  let state = model.initialState(2);
  const log: { loss: number; compressionLoss: number | null; compressedSlots: number[] }[] = [];
  for (let step = 0; step < steps; step++) {
    const inputs = segment(step, 0);
    const targets = segment(step, 1);
    const result = model.trainStep({ inputs, targets }, state, { optimizer, separateOptimizer });
    tf.dispose([inputs, targets]);
    state = result.state;
    const compressedSlots = policy.telemetry(state).perLayer.compressedSlots ?? [];
    log.push({ loss: result.loss, compressionLoss: result.separateLoss, compressedSlots });
  }
  const temporalRange = model.temporalRange(); // L * (n_m + c * n_cm) = 2 * (8 + 2 * 4) = 32 tokens
  disposeState(state);
  optimizer.dispose();
  separateOptimizer.dispose();
  model.dispose();
  return { temporalRange, log };
}
