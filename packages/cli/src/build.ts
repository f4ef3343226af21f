// Turns a validated configuration into the library objects: the memory policy, the model config, the temporal range.
import {
  BUILT_IN_COMPRESSOR_KINDS,
  compressivePolicyDescriptor,
  createCompressivePolicyFromConfig,
  createCompressorFromConfig,
  type Compressor,
} from '@engram/compression';
import type { MemoryPolicy, MemoryPolicyDescriptor } from '@engram/memory';
import { temporalRange } from '@engram/metrics';
import type { ModelConfig } from '@engram/model';
import type { z } from 'zod';
import { policyDescriptors } from './config/schema.js';
import type { CompressiveConfig, CompressorName, CustomMemorySection, EngramConfig } from './config/schema.js';
import { CliError } from './errors.js';
import {
  loadedCompressorDescriptor,
  loadedPolicyDescriptor,
  moduleReferenceOf,
  withModuleReference,
  withoutModuleReference,
  type ModuleReference,
} from './user-modules.js';

type AnyDescriptor = MemoryPolicyDescriptor<z.ZodType<EngramConfig['memory']>>;

/**
 * The policy descriptor of a configuration's kind, with its memory options typed for it. For kind `custom`, the
 * descriptor the user's module exports (loaded by loadConfigModules), seen through `memory.options` and with the
 * module reference recorded in the policy's config().
 */
function descriptorOf(config: EngramConfig): AnyDescriptor {
  if (config.kind !== 'custom') return policyDescriptors[config.kind] as unknown as AnyDescriptor;
  const reference: ModuleReference = { module: config.memory.module, export: config.memory.export };
  const user = loadedPolicyDescriptor(reference);
  const options = (memory: EngramConfig['memory']) => user.optionsSchema.parse((memory as CustomMemorySection).options);
  return {
    ...user,
    create: (memory, context) => withModuleReference(user.create(options(memory), context), reference),
    fromSavedConfig: (saved) => withModuleReference(user.fromSavedConfig(withoutModuleReference(saved)), reference),
    temporalRange: (memory, numLayers) => user.temporalRange(options(memory), numLayers),
    unroll: (memory) => user.unroll(options(memory)),
  } as AnyDescriptor;
}

/** The compressor a compressive configuration names from a module (built at the memory's rate, reference recorded). */
function moduleCompressorOf(config: CompressiveConfig): Compressor | undefined {
  const setting = config.memory.compressor;
  if (typeof setting === 'string') return undefined;
  const reference: ModuleReference = { module: setting.module, export: setting.export };
  const descriptor = loadedCompressorDescriptor(reference);
  const compressor = descriptor.create(descriptor.optionsSchema.parse(setting.options), {
    rate: config.memory.compressionRate,
    seed: config.model.seed,
  });
  return withModuleReference(compressor, reference);
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
  const compressor = config.kind === 'compressive' ? moduleCompressorOf(config) : undefined;
  return descriptorOf(config).create(config.memory, { seed: config.model.seed, ...(compressor === undefined ? {} : { compressor }) });
}

/**
 * Recreates a policy from what `policy.config()` returned when the model was saved (config.json of
 * saveModel), through the descriptor of its kind; a policy or compressor from a user module through that module's
 * descriptor (loaded beforehand by loadSavedModules, which loadTrainedModel calls).
 */
export function policyFromSavedConfig(kind: string, saved: Record<string, unknown>): MemoryPolicy {
  const reference = moduleReferenceOf(saved);
  if (reference !== undefined) {
    const user = loadedPolicyDescriptor(reference);
    if (user.kind !== kind) {
      throw new CliError(
        `the saved model's memory policy is "${kind}" but export "${reference.export}" of ${reference.module} describes "${user.kind}": ` +
          'restore the module the model was trained with',
      );
    }
    return withModuleReference(user.fromSavedConfig(withoutModuleReference(saved)), reference);
  }
  const compressorReference = moduleReferenceOf(saved.compressor);
  if (kind === compressivePolicyDescriptor.kind && compressorReference !== undefined) {
    const user = loadedCompressorDescriptor(compressorReference);
    const savedCompressor = saved.compressor as Record<string, unknown>;
    if (user.kind !== savedCompressor.kind) {
      throw new CliError(
        `the saved compressive model's compressor is "${String(savedCompressor.kind)}" but export "${compressorReference.export}" of ` +
          `${compressorReference.module} describes "${user.kind}": restore the module the model was trained with`,
      );
    }
    const compressor = withModuleReference(user.fromSavedConfig(withoutModuleReference(savedCompressor)), compressorReference);
    return createCompressivePolicyFromConfig(saved, { compressor });
  }
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
        `the saved compressive model uses compressor "${String(name)}", which the engram command cannot rebuild: name it in the configuration as compressor: { module, export, options } so the model records its module, or load it from code with createCompressivePolicy and your compressor`,
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
