// The language model's configuration (SPEC 2): validation and defaults.
import { ModelConfigError } from './errors.js';

/** Configuration of a {@link MemoryTransformer}. */
export interface ModelConfig {
  /** Vocabulary size V. */
  vocabSize: number;
  /** Model width D (divisible by numHeads, even). */
  modelDim: number;
  /** Attention heads H. */
  numHeads: number;
  /** Transformer blocks L. */
  numLayers: number;
  /** Feed-forward inner width F. */
  feedForwardDim: number;
  /** Tokens per training segment T (also the streaming commit size and the policy's segment length). */
  segmentLength: number;
  /** `pre`: `x + f(LN(x))` with a final LN (default); `post`: `LN(x + f(x))` as in the papers. */
  norm?: 'pre' | 'post';
  /** Dropout on residual branches (default 0). */
  dropout?: number;
  /** Dropout on attention probabilities (default 0). */
  attentionDropout?: number;
  /** Output projection shares the embedding matrix (default false). */
  tieEmbeddings?: boolean;
  /** Distances above this share one sinusoid (default 1000); 0 or less: no clamp (Transformer-XL's `clamp_len <= 0`). */
  clampLength?: number;
  /** A layer norm after the last block (default: true for `norm: 'pre'`, false for `'post'`). The official pre-norm Transformer-XL has none. */
  finalNorm?: boolean;
  /**
   * Transformer-XL's `same_length` attention mask (default false): every query sees the same
   * number of keys, the policy's memory length M (`memoryLength` in training, `evalMemoryLength`
   * in evaluation), so a query sees the keys at distance 0 .. M - 1. Needs a policy whose
   * `config()` has `memoryLength >= 1` (FIFO).
   */
  sameLength?: boolean;
  /** Feed-forward activation (default `relu`; `gelu` is the tanh approximation). */
  activation?: 'relu' | 'gelu';
  /**
   * Gradient checkpointing (default false): in `trainStep` each block keeps only its inputs for the backward pass,
   * which reruns the block's forward pass to get its gradients. Same losses and gradients; costs one more forward pass
   * of every block per step (measured in the model README) for a lower peak of tensor memory. Ignored when the policy
   * needs attention probabilities (`needsAttentionProbabilities`).
   */
  recomputeBlocks?: boolean;
  /** Multiply embeddings by sqrt(D) (default false). */
  scaleEmbedding?: boolean;
  /** One u, v pair per layer instead of one shared pair (default false, as Transformer-XL). */
  perLayerPositionBiases?: boolean;
  /** Seed of the initial weights and of dropout (default 0). */
  seed?: number;
  /** Standard deviation of the normal initialisation of weight matrices, embeddings and u, v (default 0.02). */
  initStandardDeviation?: number;
  /** Epsilon of every layer norm (default 1e-5). */
  layerNormEpsilon?: number;
  /**
   * Adaptive input embeddings and adaptive softmax (Transformer-XL's `cutoffs`): the vocabulary is
   * split into clusters `[0, c1), [c1, c2), ..., [ck, V)` by these increasing token ids (each in
   * `[1, V)`); the softmax head holds the first cluster plus one logit per tail cluster (default
   * `[]`: one cluster, a full softmax).
   */
  cutoffs?: number[];
  /** Width divisor of the clusters (Transformer-XL's `div_val`): cluster i is `floor(embeddingDim / divisor^i)` wide (default 1: one table for every cluster). */
  embeddingDivisor?: number;
  /** Width E of the embedding and output tables (`d_embed`, default modelDim); projections map E to modelDim when they differ or when embeddingDivisor > 1. */
  embeddingDim?: number;
  /**
   * Per cluster (`tie_projs`, head first): the output projection of cluster i is the transposed input
   * projection (of cluster i; of the one table when embeddingDivisor is 1). Missing entries are false
   * (default `[]`). Ignored where a cluster has no projection.
   */
  tieProjections?: boolean[];
}

/** A configuration with every default filled in. */
export type ResolvedModelConfig = Required<ModelConfig>;

const integerFields = ['vocabSize', 'modelDim', 'numHeads', 'numLayers', 'feedForwardDim', 'segmentLength'] as const;

/** Validates a configuration and fills in defaults; throws {@link ModelConfigError} naming the field. */
export function resolveConfig(config: ModelConfig): ResolvedModelConfig {
  if (typeof config !== 'object' || config === null) {
    throw new ModelConfigError(`createModel: config must be an object, got ${config === null ? 'null' : typeof config}.`);
  }
  for (const field of integerFields) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new ModelConfigError(`createModel: config.${field} must be an integer >= 1, got ${JSON.stringify(value)}.`);
    }
  }
  if (config.modelDim % config.numHeads !== 0) {
    throw new ModelConfigError(
      `createModel: config.modelDim (${config.modelDim}) must be divisible by config.numHeads (${config.numHeads}); each head gets modelDim / numHeads dimensions.`,
    );
  }
  if (config.modelDim % 2 !== 0) {
    throw new ModelConfigError(
      `createModel: config.modelDim must be even (the relative position sinusoid has sin and cos halves), got ${config.modelDim}.`,
    );
  }
  const resolved: ResolvedModelConfig = {
    vocabSize: config.vocabSize,
    modelDim: config.modelDim,
    numHeads: config.numHeads,
    numLayers: config.numLayers,
    feedForwardDim: config.feedForwardDim,
    segmentLength: config.segmentLength,
    norm: config.norm ?? 'pre',
    dropout: config.dropout ?? 0,
    attentionDropout: config.attentionDropout ?? 0,
    tieEmbeddings: config.tieEmbeddings ?? false,
    clampLength: config.clampLength ?? 1000,
    finalNorm: config.finalNorm ?? (config.norm ?? 'pre') === 'pre',
    sameLength: config.sameLength ?? false,
    activation: config.activation ?? 'relu',
    scaleEmbedding: config.scaleEmbedding ?? false,
    recomputeBlocks: config.recomputeBlocks ?? false,
    perLayerPositionBiases: config.perLayerPositionBiases ?? false,
    seed: config.seed ?? 0,
    initStandardDeviation: config.initStandardDeviation ?? 0.02,
    layerNormEpsilon: config.layerNormEpsilon ?? 1e-5,
    cutoffs: config.cutoffs ?? [],
    embeddingDivisor: config.embeddingDivisor ?? 1,
    embeddingDim: config.embeddingDim ?? config.modelDim,
    tieProjections: config.tieProjections ?? [],
  };
  checkAdaptive(resolved);
  if (resolved.norm !== 'pre' && resolved.norm !== 'post') {
    throw new ModelConfigError(`createModel: config.norm must be "pre" or "post", got ${JSON.stringify(resolved.norm)}.`);
  }
  if (resolved.activation !== 'relu' && resolved.activation !== 'gelu') {
    throw new ModelConfigError(
      `createModel: config.activation must be "relu" or "gelu", got ${JSON.stringify(resolved.activation)}.`,
    );
  }
  for (const field of ['dropout', 'attentionDropout'] as const) {
    const value = resolved[field];
    if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
      throw new ModelConfigError(`createModel: config.${field} must be a rate in [0, 1), got ${JSON.stringify(value)}.`);
    }
  }
  if (!Number.isInteger(resolved.clampLength)) {
    throw new ModelConfigError(`createModel: config.clampLength must be an integer (0 or less: no clamp), got ${JSON.stringify(resolved.clampLength)}.`);
  }
  if (!Number.isInteger(resolved.seed)) {
    throw new ModelConfigError(`createModel: config.seed must be an integer, got ${JSON.stringify(resolved.seed)}.`);
  }
  if (!(resolved.initStandardDeviation > 0)) {
    throw new ModelConfigError(
      `createModel: config.initStandardDeviation must be > 0, got ${JSON.stringify(resolved.initStandardDeviation)}.`,
    );
  }
  if (!(resolved.layerNormEpsilon > 0)) {
    throw new ModelConfigError(`createModel: config.layerNormEpsilon must be > 0, got ${JSON.stringify(resolved.layerNormEpsilon)}.`);
  }
  for (const field of ['tieEmbeddings', 'scaleEmbedding', 'perLayerPositionBiases', 'finalNorm', 'sameLength', 'recomputeBlocks'] as const) {
    if (typeof resolved[field] !== 'boolean') {
      throw new ModelConfigError(`createModel: config.${field} must be a boolean, got ${JSON.stringify(resolved[field])}.`);
    }
  }
  return resolved;
}

/** Checks the adaptive fields (cutoffs, embeddingDivisor, embeddingDim, tieProjections) of a resolved config. */
function checkAdaptive(c: ResolvedModelConfig): void {
  const { cutoffs, embeddingDivisor, embeddingDim, tieProjections, vocabSize } = c;
  if (!Array.isArray(cutoffs) || cutoffs.some((cutoff, index) => !Number.isInteger(cutoff) || cutoff < 1 || cutoff >= vocabSize || (index > 0 && cutoff <= (cutoffs[index - 1] as number)))) {
    throw new ModelConfigError(
      `createModel: config.cutoffs must be increasing integer token ids in [1, ${vocabSize}) (config.vocabSize), e.g. [${Math.max(1, Math.floor(vocabSize / 4))}], got ${JSON.stringify(cutoffs)}.`,
    );
  }
  if (!Number.isInteger(embeddingDivisor) || embeddingDivisor < 1) {
    throw new ModelConfigError(`createModel: config.embeddingDivisor must be an integer >= 1 (Transformer-XL's div_val), got ${JSON.stringify(embeddingDivisor)}.`);
  }
  if (!Number.isInteger(embeddingDim) || embeddingDim < 1) {
    throw new ModelConfigError(`createModel: config.embeddingDim must be an integer >= 1, got ${JSON.stringify(embeddingDim)}.`);
  }
  const narrowest = Math.floor(embeddingDim / embeddingDivisor ** cutoffs.length);
  if (embeddingDivisor > 1 && narrowest < 1) {
    throw new ModelConfigError(
      `createModel: config.embeddingDim ${embeddingDim} with embeddingDivisor ${embeddingDivisor} and ${cutoffs.length} cutoffs leaves the last cluster floor(${embeddingDim} / ${embeddingDivisor}^${cutoffs.length}) = 0 wide; use a wider embeddingDim, a smaller divisor or fewer cutoffs.`,
    );
  }
  if (!Array.isArray(tieProjections) || tieProjections.length > cutoffs.length + 1 || tieProjections.some((tie) => typeof tie !== 'boolean')) {
    throw new ModelConfigError(
      `createModel: config.tieProjections must be at most ${cutoffs.length + 1} booleans (one per cluster, head first), got ${JSON.stringify(tieProjections)}.`,
    );
  }
}
