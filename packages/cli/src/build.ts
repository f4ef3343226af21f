// Turns a validated configuration into the library objects: the memory policy, the model config, the temporal range.
import { BUILT_IN_COMPRESSOR_KINDS, compressivePolicyDescriptor, createCompressorFromConfig, type Compressor } from '@engram/compression';
import type { MemoryPolicy, MemoryPolicyDescriptor } from '@engram/memory';
import { temporalRange } from '@engram/metrics';
import type { ModelConfig } from '@engram/model';
import type { z } from 'zod';
import { policyDescriptors } from './config/schema.js';
import type { CompressorName, EngramConfig } from './config/schema.js';
import { CliError } from './errors.js';

/** The policy descriptor of a configuration's kind, with its memory options typed for it. */
function descriptorOf(config: EngramConfig): MemoryPolicyDescriptor<z.ZodType<EngramConfig['memory']>> {
  return policyDescriptors[config.kind] as unknown as MemoryPolicyDescriptor<z.ZodType<EngramConfig['memory']>>;
}

/**
 * Temporal range of a configuration in tokens (SPEC 3), from the settings alone: the policy descriptor's formula,
 * the same function the live policy's `temporalRange()` uses (so `engram presets`, the log header and the policy agree).
 */
export function temporalRangeOf(config: EngramConfig): number {
  return temporalRange(descriptorOf(config), config.memory, config.model.numLayers);
}

/** A compressor of the given kind (seeded, so a run is reproducible), rebuilt by @engram/compression. */
export function createCompressor(
  name: CompressorName,
  options: { rate: number; seed?: number; dilations?: number[] },
): Compressor {
  return createCompressorFromConfig({
    kind: name,
    rate: options.rate,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.dilations === undefined ? {} : { dilations: options.dilations }),
  });
}

/** The memory policy a configuration describes (a new, unbuilt policy; the model builds it). */
export function createPolicy(config: EngramConfig): MemoryPolicy {
  return descriptorOf(config).create(config.memory, { seed: config.model.seed });
}

/**
 * Recreates a policy from what `policy.config()` returned when the model was saved (config.json of
 * saveModel), through the descriptor of its kind.
 */
export function policyFromSavedConfig(kind: string, saved: Record<string, unknown>): MemoryPolicy {
  const descriptor = Object.values(policyDescriptors).find((candidate) => candidate.kind === kind);
  if (!descriptor) {
    throw new CliError(
      `the saved model uses a "${kind}" memory policy, which the engram command cannot build (it knows ${Object.values(policyDescriptors)
        .map((candidate) => candidate.kind)
        .join(', ')})`,
    );
  }
  if (kind === compressivePolicyDescriptor.kind) {
    const name = (saved.compressor as { kind?: unknown } | undefined)?.kind;
    if (!(BUILT_IN_COMPRESSOR_KINDS as readonly unknown[]).includes(name)) {
      throw new CliError(
        `the saved compressive model uses compressor "${String(name)}", which the engram command cannot rebuild; load it from code with createCompressivePolicy and your compressor`,
      );
    }
  }
  return descriptor.fromSavedConfig(saved);
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
    recomputeBlocks: model.recomputeBlocks,
    cutoffs: model.cutoffs,
    embeddingDivisor: model.embeddingDivisor,
    ...(model.embeddingDim === undefined ? {} : { embeddingDim: model.embeddingDim }),
    tieProjections: model.tieProjections,
    seed: model.seed,
  };
}

/** Segments unrolled per gradient step (the descriptor's unroll: the compressive `bptt` mode unrolls `bpttSegments`, everything else 1). */
export function unrollOf(config: EngramConfig): number {
  return descriptorOf(config).unroll(config.memory);
}
