// The configuration schema of the `engram` command (zod): model shape, memory method, training and data.
import { adaptiveSpanPolicyDescriptor } from '@engram/adaptive-span';
import { BUILT_IN_COMPRESSOR_KINDS, compressivePolicyDescriptor } from '@engram/compression';
import { expireSpanPolicyDescriptor } from '@engram/expire-span';
import type { BackendChoice as KernelsBackendChoice } from '@engram/kernels';
import { fifoPolicyDescriptor, type MemoryPolicyDescriptor } from '@engram/memory';
import { z } from 'zod';

/** Memory methods the command can build (SPEC 2.1, 3, 4, 5). */
export const modelKinds = ['txl', 'compressive', 'expire-span', 'adaptive-span'] as const;
export type ModelKind = (typeof modelKinds)[number];

/** Every `kind` a configuration may name: the built-in memory methods, and `custom` for a policy from your own module. */
export const configKinds = [...modelKinds, 'custom'] as const;
export type ConfigKind = (typeof configKinds)[number];

/** Tensor backends `--backend` accepts (auto: tensorflow-gpu -> tensorflow -> wasm -> cpu). */
export const backendChoices = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const satisfies readonly KernelsBackendChoice[];
export type BackendChoice = (typeof backendChoices)[number];

/** Compression functions of SPEC 3.1 (the built-ins @engram/compression rebuilds by name). */
export const compressorNames = BUILT_IN_COMPRESSOR_KINDS;
export type CompressorName = (typeof compressorNames)[number];

/** Compressor training modes of SPEC 3.2. */
export const compressionTrainingModes = ['none', 'attention-reconstruction', 'auto-encoding', 'bptt'] as const;
export type CompressionTrainingMode = (typeof compressionTrainingModes)[number];

const positiveInteger = z.number().int().positive();
const nonNegativeInteger = z.number().int().nonnegative();
const probability = z.number().min(0).lt(1);

/** The transformer backbone (ModelConfig of @engram/model). */
export const modelSectionSchema = z
  .strictObject({
    /** Vocabulary size, or `auto`: the tokenizer's vocabulary size. */
    vocabSize: z.union([positiveInteger, z.literal('auto')]).default('auto'),
    modelDim: positiveInteger,
    numHeads: positiveInteger,
    numLayers: positiveInteger,
    feedForwardDim: positiveInteger,
    segmentLength: positiveInteger,
    norm: z.enum(['pre', 'post']).default('pre'),
    dropout: probability.default(0),
    attentionDropout: probability.default(0),
    tieEmbeddings: z.boolean().default(false),
    /** 0 or less: no clamp (Transformer-XL's clamp_len <= 0). */
    clampLength: z.number().int().default(1000),
    /** A final layer norm after the blocks (default: with pre-norm); false for the official pre-norm Transformer-XL. */
    finalNorm: z.boolean().optional(),
    /** Transformer-XL's same_length attention mask over the FIFO memory length. */
    sameLength: z.boolean().default(false),
    activation: z.enum(['relu', 'gelu']).default('relu'),
    scaleEmbedding: z.boolean().default(false),
    perLayerPositionBiases: z.boolean().default(false),
    /** Gradient checkpointing: blocks keep only their inputs and are rerun in the backward pass (less memory, about 1.25x time). */
    recomputeBlocks: z.boolean().default(false),
    /** Adaptive input embeddings and softmax (Transformer-XL's `cutoffs`): increasing token ids splitting the vocabulary into clusters; empty: a plain softmax. */
    cutoffs: z.array(positiveInteger).default([]),
    /** Width divisor of the clusters (`div_val`): cluster i is floor(embeddingDim / divisor^i) wide. */
    embeddingDivisor: positiveInteger.default(1),
    /** Width of the embedding and output tables (`d_embed`); default modelDim. */
    embeddingDim: positiveInteger.optional(),
    /** Per cluster: share the input projection with the output projection (`tie_projs`). */
    tieProjections: z.array(z.boolean()).default([]),
    seed: nonNegativeInteger.default(0),
  })
  .superRefine((model, context) => {
    if (model.modelDim % model.numHeads !== 0) {
      context.addIssue({
        code: 'custom',
        path: ['numHeads'],
        message: `must divide modelDim (${model.modelDim}) evenly, got ${model.numHeads}: pick a head count such that modelDim / numHeads is a whole number`,
      });
    }
    if (model.modelDim % 2 !== 0) {
      context.addIssue({
        code: 'custom',
        path: ['modelDim'],
        message: `must be even (relative position sinusoids pair sin and cos), got ${model.modelDim}`,
      });
    }
  });
export type ModelSection = z.infer<typeof modelSectionSchema>;

/**
 * The memory policy behind each model kind: its descriptor (in the policy's own package) holds the options schema,
 * defaults, factories, temporal range and unroll that the schema, presets and builder read.
 */
export const policyDescriptors = {
  txl: fifoPolicyDescriptor,
  compressive: compressivePolicyDescriptor,
  'expire-span': expireSpanPolicyDescriptor,
  'adaptive-span': adaptiveSpanPolicyDescriptor,
} as const satisfies Record<ModelKind, MemoryPolicyDescriptor>;

/** Transformer-XL: FIFO memory of `memoryLength` slots per layer (SPEC 2.1). */
export const txlMemorySchema = policyDescriptors.txl.optionsSchema;
/** Compressive Transformer: regular + compressed FIFO memories (SPEC 3); default training filled in. */
export const compressiveMemorySchema = policyDescriptors.compressive.optionsSchema;
/** Expire-Span: learned per-memory spans, pruned memory (SPEC 4). */
export const expireSpanMemorySchema = policyDescriptors['expire-span'].optionsSchema;
/** Adaptive-Span baseline: one learned span per head (SPEC 5). */
export const adaptiveSpanMemorySchema = policyDescriptors['adaptive-span'].optionsSchema;

/**
 * A memory policy from your own module (kind `custom`): the module's path (relative paths are relative to the
 * configuration file, stored absolute), the export holding its `MemoryPolicyDescriptor`, and the options its
 * schema checks when the command loads it.
 */
export const customMemorySchema = z.strictObject({
  module: z.string().min(1),
  export: z.string().min(1).default('default'),
  options: z.record(z.string(), z.unknown()).default({}),
});
export type CustomMemorySection = z.output<typeof customMemorySchema>;

/** Training loop options (SPEC 7). */
export const trainingSectionSchema = z.strictObject({
  steps: positiveInteger,
  batchSize: positiveInteger,
  learningRate: z.number().positive(),
  warmupSteps: nonNegativeInteger.default(0),
  /** Learning-rate schedule after warm-up. */
  schedule: z.enum(['cosine', 'constant']).default('cosine'),
  /** Gradient clipping by global norm; null turns clipping off. */
  clipNorm: z.number().positive().nullable().default(0.25),
  /** Evaluate on the validation split every this many steps (0: only at the end). */
  evalEvery: nonNegativeInteger.default(0),
  /** Validation tokens per evaluation (null: the whole split). */
  evalTokens: positiveInteger.nullable().default(null),
  /** Save a checkpoint every this many steps (0: the trainer's default, at each evaluation or every 1000 steps; the best and the last are always saved). */
  checkpointEvery: nonNegativeInteger.default(0),
});
export type TrainingSection = z.infer<typeof trainingSectionSchema>;

/** Corpora @engram/datasets knows by name (`moby-dick` is bundled; `local` reads `path`). */
export const corpusNames = ['moby-dick', 'enwik8', 'text8', 'wikitext-103', 'wikitext-103-raw', 'pg19', 'local'] as const;

/** Where the text comes from and how it becomes tokens. */
export const dataSectionSchema = z
  .strictObject({
    /** A corpus name; `moby-dick` ships with @engram/datasets (no download), `local` reads `path`. */
    corpus: z.enum(corpusNames).default('moby-dick'),
    /** Text file or folder for corpus `local`. */
    path: z.string().min(1).optional(),
    /**
     * `character`, `byte`, `word`, `subword` (byte-level BPE trained on the training split), or the
     * path of a Hugging Face `tokenizer.json`; default: the corpus's usual tokenizer (character for moby-dick and enwik8).
     */
    tokenizer: z
      .union([z.enum(['byte', 'character', 'word', 'subword']), z.string().regex(/\.json$/i, 'must be byte, character, word, subword or a path ending in .json')])
      .optional(),
    /** Vocabulary size of a trained `subword` tokenizer (default 8192: the 256 bytes plus 7,936 merges). */
    subwordVocabSize: z.number().int().min(256).optional(),
    /** Download cache (default: $ENGRAM_CACHE_DIR, else ~/.cache/engram). */
    cacheDirectory: z.string().min(1).optional(),
  })
  .superRefine((data, context) => {
    if (data.corpus === 'local' && data.path === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['path'],
        message: 'is required when corpus is "local": give the text file or folder to train on',
      });
    }
  });
export type DataSection = z.infer<typeof dataSectionSchema>;

const commonFields = {
  /** The preset the configuration started from (informational). */
  preset: z.string().optional(),
  model: modelSectionSchema,
  training: trainingSectionSchema,
  data: dataSectionSchema.default({ corpus: 'moby-dick' }),
  backend: z.enum(backendChoices).default('auto'),
};

/** Schemas of a whole configuration, one per model kind. */
export const configSchemas = {
  txl: z.strictObject({ kind: z.literal('txl'), ...commonFields, memory: txlMemorySchema }),
  compressive: z.strictObject({ kind: z.literal('compressive'), ...commonFields, memory: compressiveMemorySchema }),
  'expire-span': z.strictObject({ kind: z.literal('expire-span'), ...commonFields, memory: expireSpanMemorySchema }),
  'adaptive-span': z.strictObject({
    kind: z.literal('adaptive-span'),
    ...commonFields,
    memory: adaptiveSpanMemorySchema,
  }),
  custom: z.strictObject({ kind: z.literal('custom'), ...commonFields, memory: customMemorySchema }),
} as const;

export type TxlConfig = z.infer<(typeof configSchemas)['txl']>;
export type CompressiveConfig = z.infer<(typeof configSchemas)['compressive']>;
export type ExpireSpanConfig = z.infer<(typeof configSchemas)['expire-span']>;
export type AdaptiveSpanConfig = z.infer<(typeof configSchemas)['adaptive-span']>;
export type CustomConfig = z.infer<(typeof configSchemas)['custom']>;
/** A validated configuration (defaults filled in). */
export type EngramConfig = TxlConfig | CompressiveConfig | ExpireSpanConfig | AdaptiveSpanConfig | CustomConfig;
export type MemorySection = EngramConfig['memory'];

/** Every field name the schemas know (for "did you mean" suggestions). */
export const knownConfigFields: readonly string[] = [
  ...new Set(
    [
      ...[modelSectionSchema.shape, trainingSectionSchema.shape, dataSectionSchema.shape, configSchemas.txl.shape].flatMap(
        (shape) => Object.keys(shape),
      ),
      ...Object.values(policyDescriptors).flatMap((descriptor) => descriptor.optionNames),
      ...Object.keys(customMemorySchema.shape),
    ],
  ),
];
