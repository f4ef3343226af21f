// Turns a validated configuration into the library objects: the memory policy, the model config, the temporal range.
import { createAdaptiveSpanPolicy } from '@engram/adaptive-span';
import {
  createCompressivePolicy,
  createConvCompressor,
  createDilatedConvCompressor,
  createMaxPoolCompressor,
  createMeanPoolCompressor,
  createMostUsedCompressor,
  type CompressionTraining,
  type Compressor,
} from '@engram/compression';
import { createExpireSpanPolicy } from '@engram/expire-span';
import { createFifoPolicy, type MemoryPolicy } from '@engram/memory';
import { temporalRange } from '@engram/metrics';
import type { ModelConfig } from '@engram/model';
import type { CompressorName, EngramConfig } from './config/schema.js';
import { CliError } from './errors.js';

/** Temporal range of a configuration in tokens (SPEC 3), computed by @engram/metrics from the settings alone. */
export function temporalRangeOf(config: EngramConfig): number {
  const numLayers = config.model.numLayers;
  switch (config.kind) {
    case 'txl':
      return temporalRange({ kind: 'fifo', numLayers, memoryLength: config.memory.memoryLength });
    case 'compressive':
      return temporalRange({
        kind: 'compressive',
        numLayers,
        memoryLength: config.memory.memoryLength,
        compressedLength: config.memory.compressedLength,
        compressionRate: config.memory.compressionRate,
      });
    case 'expire-span':
    case 'adaptive-span':
      return temporalRange({ kind: config.kind, numLayers, maxSpan: config.memory.maxSpan, ramp: config.memory.ramp });
  }
}

/** A compressor of the given kind (seeded, so a run is reproducible). */
export function createCompressor(
  name: CompressorName,
  options: { rate: number; seed?: number; dilations?: number[] },
): Compressor {
  const seed = options.seed === undefined ? {} : { seed: options.seed };
  switch (name) {
    case 'conv':
      return createConvCompressor({ rate: options.rate, ...seed });
    case 'dilated-conv':
      return createDilatedConvCompressor({
        rate: options.rate,
        ...seed,
        ...(options.dilations === undefined ? {} : { dilations: options.dilations }),
      });
    case 'max-pool':
      return createMaxPoolCompressor({ rate: options.rate });
    case 'mean-pool':
      return createMeanPoolCompressor({ rate: options.rate });
    case 'most-used':
      return createMostUsedCompressor({ rate: options.rate });
  }
}

/** The memory policy a configuration describes (a new, unbuilt policy; the model builds it). */
export function createPolicy(config: EngramConfig): MemoryPolicy {
  const seed = config.model.seed;
  switch (config.kind) {
    case 'txl':
      return createFifoPolicy({
        memoryLength: config.memory.memoryLength,
        ...(config.memory.evalMemoryLength === undefined ? {} : { evalMemoryLength: config.memory.evalMemoryLength }),
      });
    case 'compressive': {
      const memory = config.memory;
      return createCompressivePolicy({
        memoryLength: memory.memoryLength,
        compressedLength: memory.compressedLength,
        compressor: createCompressor(memory.compressor, { rate: memory.compressionRate, seed, dilations: memory.dilations }),
        training: memory.training,
        seed,
        ...(memory.evalMemoryLength === undefined ? {} : { evalMemoryLength: memory.evalMemoryLength }),
        ...(memory.evalCompressedLength === undefined ? {} : { evalCompressedLength: memory.evalCompressedLength }),
      });
    }
    case 'expire-span': {
      const memory = config.memory;
      return createExpireSpanPolicy({
        maxSpan: memory.maxSpan,
        ramp: memory.ramp,
        alpha: memory.alpha,
        initFraction: memory.initFraction,
        preDiv: memory.preDiv,
        noise: memory.noise,
        prune: memory.prune,
        seed,
        ...(memory.maxMemory === undefined ? {} : { maxMemory: memory.maxMemory }),
      });
    }
    case 'adaptive-span': {
      const memory = config.memory;
      return createAdaptiveSpanPolicy({
        maxSpan: memory.maxSpan,
        ramp: memory.ramp,
        alpha: memory.alpha,
        initFraction: memory.initFraction,
        buffer: memory.buffer,
      });
    }
  }
}

/**
 * Recreates a policy from what `policy.config()` returned when the model was saved (config.json of
 * saveModel). Each policy factory accepts its own config back; the compressive policy also needs its
 * compressor rebuilt from the compressor's config.
 */
export function policyFromSavedConfig(kind: string, saved: Record<string, unknown>): MemoryPolicy {
  switch (kind) {
    case 'fifo':
      return createFifoPolicy(saved as { memoryLength: number; evalMemoryLength?: number });
    case 'expire-span':
      return createExpireSpanPolicy(withoutNulls(saved) as unknown as Parameters<typeof createExpireSpanPolicy>[0]);
    case 'adaptive-span':
      return createAdaptiveSpanPolicy(withoutNulls(saved) as unknown as Parameters<typeof createAdaptiveSpanPolicy>[0]);
    case 'compressive': {
      const compressorConfig = (saved.compressor ?? {}) as { kind?: string; rate?: number; seed?: number; dilations?: number[] };
      const name = compressorConfig.kind;
      if (
        name !== 'conv' &&
        name !== 'dilated-conv' &&
        name !== 'max-pool' &&
        name !== 'mean-pool' &&
        name !== 'most-used'
      ) {
        throw new CliError(
          `the saved compressive model uses compressor "${String(name)}", which the engram command cannot rebuild; load it from code with createCompressivePolicy and your compressor`,
        );
      }
      const compressor = createCompressor(name, {
        rate: Number(compressorConfig.rate),
        ...(compressorConfig.seed === undefined ? {} : { seed: compressorConfig.seed }),
        ...(compressorConfig.dilations === undefined ? {} : { dilations: compressorConfig.dilations }),
      });
      const options = withoutNulls(saved);
      return createCompressivePolicy({
        memoryLength: Number(options.memoryLength),
        compressedLength: Number(options.compressedLength),
        compressor,
        training: options.training as CompressionTraining,
        ...(options.evalMemoryLength === undefined ? {} : { evalMemoryLength: Number(options.evalMemoryLength) }),
        ...(options.evalCompressedLength === undefined ? {} : { evalCompressedLength: Number(options.evalCompressedLength) }),
        ...(options.seed === undefined ? {} : { seed: Number(options.seed) }),
      });
    }
    default:
      throw new CliError(
        `the saved model uses a "${kind}" memory policy, which the engram command cannot build (it knows fifo, compressive, expire-span and adaptive-span)`,
      );
  }
}

function withoutNulls(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null && value !== undefined));
}

/** The @engram/model configuration of an Engram configuration, for a tokenizer of `vocabSize` tokens. */
export function modelConfigOf(config: EngramConfig, tokenizerVocabSize: number): ModelConfig {
  const model = config.model;
  let vocabSize = tokenizerVocabSize;
  if (model.vocabSize !== 'auto') {
    if (model.vocabSize < tokenizerVocabSize) {
      throw new CliError(
        `model.vocabSize is ${model.vocabSize} but the tokenizer has ${tokenizerVocabSize} tokens: set model.vocabSize to auto or to at least ${tokenizerVocabSize}`,
        { exitCode: 2 },
      );
    }
    vocabSize = model.vocabSize;
  }
  return {
    vocabSize,
    modelDim: model.modelDim,
    numHeads: model.numHeads,
    numLayers: model.numLayers,
    feedForwardDim: model.feedForwardDim,
    segmentLength: model.segmentLength,
    norm: model.norm,
    dropout: model.dropout,
    attentionDropout: model.attentionDropout,
    tieEmbeddings: model.tieEmbeddings,
    clampLength: model.clampLength,
    ...(model.finalNorm === undefined ? {} : { finalNorm: model.finalNorm }),
    sameLength: model.sameLength,
    activation: model.activation,
    scaleEmbedding: model.scaleEmbedding,
    perLayerPositionBiases: model.perLayerPositionBiases,
    cutoffs: model.cutoffs,
    embeddingDivisor: model.embeddingDivisor,
    ...(model.embeddingDim === undefined ? {} : { embeddingDim: model.embeddingDim }),
    tieProjections: model.tieProjections,
    seed: model.seed,
  };
}

/** Segments unrolled per gradient step: the compressive `bptt` mode unrolls `bpttSegments`, everything else 1. */
export function unrollOf(config: EngramConfig): number {
  return config.kind === 'compressive' && config.memory.training === 'bptt' ? config.memory.bpttSegments : 1;
}
