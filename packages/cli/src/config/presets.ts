// Presets `tiny`, `small` and `paper` for each model kind: starting points that `--config` files and flags override.
import type { ConfigKind, ModelKind } from './schema.js';

export const presetNames = ['tiny', 'small', 'paper'] as const;
export type PresetName = (typeof presetNames)[number];

/** A configuration before validation: plain JSON, the shape a config file has. */
export type ConfigInput = Record<string, unknown>;

interface Shape {
  model: Record<string, unknown>;
  training: Record<string, unknown>;
  memory: Record<ModelKind, Record<string, unknown>>;
}

/**
 * tiny: seconds per step on 2 CPU cores (the bench's tiny speed shape).
 * small: the bench's small speed shape, minutes of training on a CPU.
 * paper: the shapes of the papers' enwik8 models (Transformer-XL base, the Compressive Transformer,
 * Expire-Span and Adaptive-Span); far beyond a CPU, meant for a GPU backend. Memory sizes keep
 * the attention cost of the four kinds comparable within each preset. Options a preset leaves out (the span
 * losses' alpha, Expire-Span's paper initFraction) take the policy's own defaults from its descriptor.
 */
const shapes: Record<PresetName, Shape> = {
  tiny: {
    model: { modelDim: 128, numHeads: 4, numLayers: 2, feedForwardDim: 512, segmentLength: 64 },
    training: { steps: 200, batchSize: 8, learningRate: 1e-3, warmupSteps: 20, evalEvery: 50, evalTokens: 16_384 },
    memory: {
      txl: { memoryLength: 64 },
      compressive: {
        memoryLength: 32,
        compressedLength: 32,
        compressionRate: 4,
        compressor: 'conv',
      },
      'expire-span': { maxSpan: 512, ramp: 16, initFraction: 0.125 },
      'adaptive-span': { maxSpan: 256, ramp: 32 },
    },
  },
  small: {
    model: { modelDim: 256, numHeads: 4, numLayers: 4, feedForwardDim: 1024, segmentLength: 128 },
    training: { steps: 2000, batchSize: 16, learningRate: 5e-4, warmupSteps: 100, evalEvery: 250 },
    memory: {
      txl: { memoryLength: 128 },
      compressive: {
        memoryLength: 64,
        compressedLength: 64,
        compressionRate: 4,
        compressor: 'conv',
      },
      'expire-span': { maxSpan: 1024, ramp: 32, initFraction: 0.125 },
      'adaptive-span': { maxSpan: 512, ramp: 32 },
    },
  },
  paper: {
    model: {
      modelDim: 512,
      numHeads: 8,
      numLayers: 12,
      feedForwardDim: 2048,
      segmentLength: 512,
      dropout: 0.1,
    },
    training: {
      steps: 400_000,
      batchSize: 22,
      learningRate: 2.5e-4,
      warmupSteps: 0,
      evalEvery: 4000,
      checkpointEvery: 4000,
    },
    memory: {
      txl: { memoryLength: 512, evalMemoryLength: 2100 },
      compressive: {
        memoryLength: 768,
        compressedLength: 768,
        compressionRate: 3,
        compressor: 'conv',
      },
      'expire-span': { maxSpan: 16_384, ramp: 128, preDiv: 64 },
      'adaptive-span': { maxSpan: 8192, ramp: 32 },
    },
  },
};

/** The Compressive Transformer's enwik8 model is larger than the others' (24 layers, width 1024, window 768). */
const paperCompressiveModel = {
  modelDim: 1024,
  numHeads: 8,
  numLayers: 24,
  feedForwardDim: 3072,
  segmentLength: 768,
  dropout: 0.1,
};

/**
 * The configuration input of one preset for one kind (a fresh object each call). Kind `custom` takes the preset's
 * model and training shape; its memory (`module`, `export`, `options`) comes from the configuration file.
 */
export function presetConfig(kind: ConfigKind, preset: PresetName): ConfigInput {
  const shape = shapes[preset];
  const model = preset === 'paper' && kind === 'compressive' ? paperCompressiveModel : shape.model;
  return structuredClone({
    kind,
    preset,
    model,
    memory: kind === 'custom' ? {} : shape.memory[kind],
    training: shape.training,
    data: { corpus: 'moby-dick' },
  });
}
