// The configuration schema of the `engram` command (zod): model shape, memory method, training and data.
import type { BackendChoice as KernelsBackendChoice } from '@engram/kernels';
import { z } from 'zod';

/** Memory methods the command can build (SPEC 2.1, 3, 4, 5). */
export const modelKinds = ['txl', 'compressive', 'expire-span', 'adaptive-span'] as const;
export type ModelKind = (typeof modelKinds)[number];

/** Tensor backends `--backend` accepts (auto: tensorflow-gpu -> tensorflow -> wasm -> cpu). */
export const backendChoices = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const satisfies readonly KernelsBackendChoice[];
export type BackendChoice = (typeof backendChoices)[number];

/** Compression functions of SPEC 3.1. */
export const compressorNames = ['conv', 'max-pool', 'mean-pool', 'dilated-conv', 'most-used'] as const;
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

/** Transformer-XL: FIFO memory of `memoryLength` slots per layer (SPEC 2.1). */
export const txlMemorySchema = z.strictObject({
  memoryLength: nonNegativeInteger,
  /** Memory length used by `eval` (papers evaluate with longer memory); defaults to memoryLength. */
  evalMemoryLength: nonNegativeInteger.optional(),
});

/** Compressive Transformer: regular + compressed FIFO memories (SPEC 3). */
const compressiveMemoryObject = z.strictObject({
  memoryLength: positiveInteger,
  compressedLength: positiveInteger,
  compressionRate: positiveInteger,
  compressor: z.enum(compressorNames).default('conv'),
  /** Default: attention-reconstruction for conv and dilated-conv, none for the others. */
  training: z.enum(compressionTrainingModes).optional(),
  /** Segments unrolled per gradient step in `bptt` mode. */
  bpttSegments: z.number().int().min(2).default(2),
  /** Dilations of the `dilated-conv` compressor. */
  dilations: z.array(positiveInteger).nonempty().default([1, 2, 4]),
  /** Regular memory slots used by `eval` (default memoryLength). */
  evalMemoryLength: nonNegativeInteger.optional(),
  /** Compressed memory slots used by `eval` (default compressedLength). */
  evalCompressedLength: nonNegativeInteger.optional(),
});
export const compressiveMemorySchema = compressiveMemoryObject
  .superRefine((memory, context) => {
    const parametric = memory.compressor === 'conv' || memory.compressor === 'dilated-conv';
    if (!parametric && memory.training !== undefined && memory.training !== 'none') {
      context.addIssue({
        code: 'custom',
        path: ['training'],
        message: `compressor "${memory.compressor}" has no parameters to train, so training must be "none", got "${memory.training}"`,
      });
    }
  })
  .transform((memory) => ({
    ...memory,
    training:
      memory.training ??
      (memory.compressor === 'conv' || memory.compressor === 'dilated-conv' ? 'attention-reconstruction' : 'none'),
  }));

/** Expire-Span: learned per-memory spans, pruned memory (SPEC 4). */
export const expireSpanMemorySchema = z.strictObject({
  /** Lmax: the largest span a memory can be given. */
  maxSpan: positiveInteger,
  /** R: length of the soft ramp. */
  ramp: positiveInteger,
  /** Auxiliary loss coefficient. */
  alpha: z.number().nonnegative().default(1e-6),
  /** Initial span as a fraction of maxSpan (bias = logit of it). */
  initFraction: z.number().gt(0).lt(1).default(0.1),
  /** Divides the memory vector before the span predictor (64 in the small enwik8 recipe). */
  preDiv: z.number().positive().default(1),
  /** Random clamping of spans during training. */
  noise: z.boolean().default(false),
  /** Drop memories no query can see any more (false: keep them and only mask). */
  prune: z.boolean().default(true),
  /** Hard cap on memory slots per layer after pruning (absent: no cap). */
  maxMemory: positiveInteger.optional(),
});

/** Adaptive-Span baseline: one learned span per head (SPEC 5). */
export const adaptiveSpanMemorySchema = z.strictObject({
  /** S: the largest span. */
  maxSpan: positiveInteger,
  /** R: length of the soft ramp. */
  ramp: positiveInteger,
  /** Span loss coefficient. */
  alpha: z.number().nonnegative().default(5e-7),
  /** Initial span as a fraction of maxSpan. */
  initFraction: z.number().min(0).max(1).default(0),
  /** Memory slots kept beyond the largest span + ramp, so spans can grow between trims. */
  buffer: nonNegativeInteger.default(64),
});

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
} as const;

export type TxlConfig = z.infer<(typeof configSchemas)['txl']>;
export type CompressiveConfig = z.infer<(typeof configSchemas)['compressive']>;
export type ExpireSpanConfig = z.infer<(typeof configSchemas)['expire-span']>;
export type AdaptiveSpanConfig = z.infer<(typeof configSchemas)['adaptive-span']>;
/** A validated configuration (defaults filled in). */
export type EngramConfig = TxlConfig | CompressiveConfig | ExpireSpanConfig | AdaptiveSpanConfig;
export type MemorySection = EngramConfig['memory'];

/** Every field name the schemas know (for "did you mean" suggestions). */
export const knownConfigFields: readonly string[] = [
  ...new Set(
    [
      modelSectionSchema.shape,
      txlMemorySchema.shape,
      compressiveMemoryObject.shape,
      expireSpanMemorySchema.shape,
      adaptiveSpanMemorySchema.shape,
      trainingSectionSchema.shape,
      dataSectionSchema.shape,
      configSchemas.txl.shape,
    ].flatMap((shape) => Object.keys(shape)),
  ),
];
