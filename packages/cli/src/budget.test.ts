// Tests of the memory estimate: the parameter count equals the model's, and the training and evaluation estimates bound the peaks tf.profile measures on wasm.
import { totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createAdam, createModel } from '@engram/model';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assertFits,
  estimateInferenceBytes,
  estimateTrainingBytes,
  memorySlotsOf,
  parameterCountOf,
  trainingShapeOf,
} from './budget.js';
import { createPolicy, modelConfigOf } from './build.js';
import { resolveConfig } from './config/resolve.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function configOf(settings: string[], kind = 'txl') {
  return resolveConfig({ kind, settings });
}

describe('estimates', () => {
  it.each([
    [['model.modelDim=32', 'model.numHeads=2', 'model.numLayers=2', 'model.feedForwardDim=64']],
    [['model.modelDim=16', 'model.numHeads=4', 'model.numLayers=3', 'model.feedForwardDim=40', 'model.tieEmbeddings=true']],
    [['model.modelDim=16', 'model.numHeads=2', 'model.numLayers=2', 'model.feedForwardDim=24', 'model.perLayerPositionBiases=true']],
  ])('counts the parameters of %j exactly as the model does', (settings) => {
    const config = configOf([...settings, 'model.segmentLength=8', 'memory.memoryLength=8']);
    const model = createModel(modelConfigOf(config, 90), { policy: createPolicy(config) });
    try {
      expect(parameterCountOf(config, 90)).toBe(model.parameterCount());
    } finally {
      model.dispose();
    }
  });

  it.each([
    { D: 32, H: 2, L: 2, F: 64, T: 16, B: 2, M: 16 },
    { D: 64, H: 4, L: 2, F: 128, T: 64, B: 4, M: 64 },
    { D: 64, H: 2, L: 2, F: 128, T: 64, B: 2, M: 128 },
  ])('bounds the measured peak of a training step and of an evaluation at %j (above it, within 2.5x)', async (shape) => {
    const config = configOf([
      `model.modelDim=${shape.D}`,
      `model.numHeads=${shape.H}`,
      `model.numLayers=${shape.L}`,
      `model.feedForwardDim=${shape.F}`,
      `model.segmentLength=${shape.T}`,
      `memory.memoryLength=${shape.M}`,
      `training.batchSize=${shape.B}`,
    ]);
    const vocabSize = 90;
    const budget = trainingShapeOf(config, vocabSize, 1);
    const baseline = tf.memory().numBytes;
    const model = createModel(modelConfigOf(config, vocabSize), { policy: createPolicy(config) });
    const optimizer = createAdam({ learningRate: 1e-3 });
    const batch = () => tf.randomUniformInt([shape.B, shape.T], 0, vocabSize) as tf.Tensor2D;
    let state = model.initialState(shape.B);
    let trainingPeak = 0;
    let evaluationPeak = 0;
    // Fill memory and Adam state first: the third step is a steady-state step.
    for (let step = 0; step < 3; step++) {
      const [inputs, targets] = [batch(), batch()];
      const profile = await tf.profile(() => {
        state = model.trainStep({ inputs, targets }, state, { optimizer }).state;
        return [];
      });
      trainingPeak = profile.peakBytes - baseline;
      tf.dispose([inputs, targets]);
    }
    const [inputs, targets] = [batch(), batch()];
    let evaluationState = model.initialState(shape.B);
    for (let segment = 0; segment < 3; segment++) {
      const profile = await tf.profile(() => {
        evaluationState = model.evaluate(inputs, targets, evaluationState).state;
        return [];
      });
      evaluationPeak = Math.max(evaluationPeak, profile.peakBytes - baseline);
    }
    tf.dispose([inputs, targets, ...state.layers.flatMap((layer) => [layer.hidden, layer.positions])].filter((x) => x !== null) as tf.Tensor[]);
    tf.dispose(evaluationState.layers.flatMap((layer) => [layer.hidden, layer.positions]).filter((x) => x !== null) as tf.Tensor[]);
    optimizer.dispose();
    model.dispose();
    const training = estimateTrainingBytes(budget).total;
    expect(training).toBeGreaterThanOrEqual(trainingPeak);
    expect(training).toBeLessThanOrEqual(2.5 * trainingPeak);
    const evaluation = estimateInferenceBytes(budget).total;
    expect(evaluation).toBeGreaterThanOrEqual(evaluationPeak);
    expect(evaluation).toBeLessThanOrEqual(2.5 * evaluationPeak);
  });

  it('memory slots per kind, training and evaluation', () => {
    expect(memorySlotsOf('fifo', { memoryLength: 16, evalMemoryLength: 64 }, false)).toBe(16);
    expect(memorySlotsOf('txl', { memoryLength: 16, evalMemoryLength: 64 }, true)).toBe(64);
    expect(memorySlotsOf('compressive', { memoryLength: 8, compressedLength: 4, evalCompressedLength: 12 }, true)).toBe(20);
    expect(memorySlotsOf('expire-span', { maxSpan: 64, ramp: 4 }, false)).toBe(68);
    expect(memorySlotsOf('expire-span', { maxSpan: 64, ramp: 4, maxMemory: 10 }, false)).toBe(10);
    expect(memorySlotsOf('adaptive-span', { maxSpan: 32, ramp: 4, buffer: 8 }, false)).toBe(44);
  });

  it('assertFits refuses past the machine memory on any backend with the estimate and the limit', async () => {
    await tf.setBackend('cpu');
    try {
      const estimate = { weights: 2 * 1024 ** 3, optimizer: 6 * 1024 ** 3, memoryState: 0, activations: 2 * 1024 ** 3, total: 10 * 1024 ** 3 };
      expect(() => assertFits(estimate, 'one step', 'lower --batch-size', { machineBytes: 8 * 1024 ** 3 })).toThrow(
        "one step needs about 10.00 GiB (weights 2.00 GiB, gradients and Adam state 6.00 GiB, memory 0.0 MiB, activations 2.00 GiB), more than this machine's 8.00 GiB of memory: lower --batch-size",
      );
      expect(() => assertFits(estimate, 'one step', 'x', { machineBytes: 16 * 1024 ** 3 })).not.toThrow();
      expect(totalmem()).toBeGreaterThan(0);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
