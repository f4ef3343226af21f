// Conversion between this model and the official PyTorch Transformer-XL (kimiyoung/transformer-xl `MemTransformerLM`, and Hugging Face's `TransfoXLLMHeadModel`): state_dict names, layouts and config, on safetensors bytes.
import * as tf from '@tensorflow/tfjs';
import { createFifoPolicy } from '@engram/memory';
import { adaptiveLayout } from '../adaptive.js';
import type { ModelConfig, ResolvedModelConfig } from '../config.js';
import { ConversionError } from '../errors.js';
import { createModel, type MemoryTransformer } from '../model.js';
import { decodeSafetensors, encodeSafetensors } from '../safetensors.js';
import { adaptiveOfficialTensors, adaptiveValuesFromOfficial, scaleFoldTarget } from './transformer-xl-adaptive.js';

/** Which PyTorch naming: the official code's `state_dict` or Hugging Face's (`transformer.`-prefixed, its config.json). */
export type TransformerXlNaming = 'official' | 'huggingface';

/**
 * The official `MemTransformerLM` constructor arguments (so `MemTransformerLM(**config)` builds the
 * matching PyTorch model).
 */
export interface TransformerXlConfig {
  n_token: number;
  n_layer: number;
  n_head: number;
  d_model: number;
  d_head: number;
  d_inner: number;
  dropout: number;
  dropatt: number;
  tie_weight: boolean;
  d_embed: number;
  div_val: number;
  tie_projs: boolean[];
  pre_lnorm: boolean;
  tgt_len: number;
  ext_len: number;
  mem_len: number;
  cutoffs: number[];
  same_length: boolean;
  attn_type: number;
  clamp_len: number;
  sample_softmax: number;
}

/** What {@link exportTransformerXl} produces: the bytes of `model.safetensors` and the JSON of `config.json`. */
export interface TransformerXlExport {
  safetensors: Uint8Array;
  config: Record<string, unknown>;
}

/** Options of {@link importTransformerXl}. */
export interface TransformerXlImportOptions {
  /** The naming of the tensors (default: Hugging Face when the names start with `transformer.`, else official). */
  naming?: TransformerXlNaming;
  /** FIFO memory kept in evaluation (default: the config's `mem_len`); the papers evaluate with a longer memory. */
  evalMemoryLength?: number;
}

const HF_PREFIX = 'transformer.';

/** Our tensor layouts against theirs: PyTorch `nn.Linear` stores `[out, in]`, we store `x @ W` weights `[in, out]`. */
function transposed(tensor: tf.Tensor): tf.Tensor2D {
  return tf.transpose(tensor as tf.Tensor2D) as tf.Tensor2D;
}

/** `inv_freq` of the official sinusoid, `[D / 2]`: `1 / 10000^(2k / D)`. */
function inverseFrequencies(modelDim: number): Float32Array {
  return Float32Array.from({ length: modelDim / 2 }, (_, k) => 1 / Math.pow(10000, (2 * k) / modelDim));
}

/** Official (unprefixed) names of the tensors other than the model's learned weights. */
const POSITION_BUFFER = 'pos_emb.inv_freq';

/** Checks that a model can be written in the PyTorch format; throws {@link ConversionError} naming the option otherwise. */
function checkExportable(model: MemoryTransformer, naming: TransformerXlNaming): void {
  const c = model.config;
  const refuse = (option: string, why: string): never => {
    throw new ConversionError(`exportTransformerXl: cannot convert ${option}: ${why}`);
  };
  if (model.policy.kind !== 'fifo') {
    refuse(`a "${model.policy.kind}" memory policy`, 'the PyTorch Transformer-XL has FIFO memory only; export a model trained with FIFO memory (--memory fifo).');
  }
  if (c.finalNorm) {
    refuse(
      'config.finalNorm: true',
      c.norm === 'pre'
        ? 'the official pre-norm model (pre_lnorm=True) has no final layer norm; train with finalNorm: false to convert a pre-norm model.'
        : 'the official post-norm model has no final layer norm; train with finalNorm: false.',
    );
  }
  if (c.activation !== 'relu') refuse(`config.activation "${c.activation}"`, 'the official feed-forward uses ReLU; train with activation "relu".');
  const layout = adaptiveLayout(c);
  if (layout && !c.scaleEmbedding) {
    const stuck = (layout.shared ? [0] : layout.widths.map((_, cluster) => cluster)).find((group) => scaleFoldTarget(c, layout, group) === null);
    if (stuck !== undefined) {
      refuse(
        `config.scaleEmbedding: false with tieEmbeddings: true and tieProjections ${JSON.stringify(c.tieProjections)}`,
        `the official embedding is always multiplied by sqrt(d_model), and the table and projection of ${layout.shared ? 'the embedding' : `cluster ${stuck}`} are both shared with the output layer, so the scale cannot be folded into the weights; train with scaleEmbedding: true (or untie the weights or that projection).`,
      );
    }
  } else if (!c.scaleEmbedding && c.tieEmbeddings) {
    refuse(
      'config.scaleEmbedding: false with tieEmbeddings: true',
      'the official embedding is always multiplied by sqrt(d_model) and, tied, the same matrix is the output layer, so the scale cannot be folded into the weights; train with scaleEmbedding: true (or untied embeddings).',
    );
  }
  if (c.perLayerPositionBiases && naming === 'official') {
    refuse('config.perLayerPositionBiases: true', 'the official code shares r_w_bias and r_r_bias across layers; use --naming huggingface (untie_r) or train with shared biases.');
  }
  if (c.layerNormEpsilon !== 1e-5 && naming === 'official') {
    refuse(`config.layerNormEpsilon ${c.layerNormEpsilon}`, 'the official layer norms use 1e-5; use --naming huggingface (layer_norm_epsilon) or train with 1e-5.');
  }
}

/** Memory lengths of a FIFO policy. */
function fifoLengths(model: MemoryTransformer): { memoryLength: number; evalMemoryLength: number } {
  const { memoryLength, evalMemoryLength } = model.policy.config() as { memoryLength: number; evalMemoryLength?: number };
  return { memoryLength, evalMemoryLength: evalMemoryLength ?? memoryLength };
}

/** The official constructor arguments of a model (see {@link TransformerXlConfig}). */
export function transformerXlConfigOf(model: MemoryTransformer): TransformerXlConfig {
  const c = model.config;
  return {
    ...adaptiveConfigOf(c),
    n_token: c.vocabSize,
    n_layer: c.numLayers,
    n_head: c.numHeads,
    d_model: c.modelDim,
    d_head: c.modelDim / c.numHeads,
    d_inner: c.feedForwardDim,
    dropout: c.dropout,
    dropatt: c.attentionDropout,
    tie_weight: c.tieEmbeddings,
    pre_lnorm: c.norm === 'pre',
    tgt_len: c.segmentLength,
    ext_len: 0,
    mem_len: fifoLengths(model).memoryLength,
    same_length: c.sameLength,
    attn_type: 0,
    clamp_len: c.clampLength > 0 ? c.clampLength : -1,
    sample_softmax: -1,
  };
}

/** The adaptive fields of the official arguments: `tie_projs` has one entry per cluster (head first). */
function adaptiveConfigOf(c: ResolvedModelConfig): Pick<TransformerXlConfig, 'cutoffs' | 'div_val' | 'd_embed' | 'tie_projs'> {
  return {
    cutoffs: [...c.cutoffs],
    div_val: c.embeddingDivisor,
    d_embed: c.embeddingDim,
    tie_projs: Array.from({ length: c.cutoffs.length + 1 }, (_, cluster) => c.tieProjections[cluster] === true),
  };
}

/** Hugging Face's `TransfoXLConfig` fields for a model. */
function huggingFaceConfigOf(model: MemoryTransformer): Record<string, unknown> {
  const official = transformerXlConfigOf(model);
  return {
    architectures: ['TransfoXLLMHeadModel'],
    model_type: 'transfo-xl',
    vocab_size: official.n_token,
    cutoffs: official.cutoffs,
    d_model: official.d_model,
    d_embed: official.d_embed,
    n_head: official.n_head,
    d_head: official.d_head,
    d_inner: official.d_inner,
    div_val: official.div_val,
    pre_lnorm: official.pre_lnorm,
    n_layer: official.n_layer,
    mem_len: official.mem_len,
    clamp_len: official.clamp_len,
    same_length: official.same_length,
    // Hugging Face derives tie_projs from this flag, then an explicit tie_projs (written below) wins.
    proj_share_all_but_first: official.tie_projs.length > 1 && !official.tie_projs[0] && official.tie_projs.slice(1).every(Boolean),
    attn_type: 0,
    sample_softmax: -1,
    adaptive: true,
    dropout: official.dropout,
    dropatt: official.dropatt,
    untie_r: model.config.perLayerPositionBiases,
    layer_norm_epsilon: model.config.layerNormEpsilon,
    tie_word_embeddings: official.tie_weight,
    tie_projs: official.tie_projs,
  };
}

/**
 * Our stable names -> their official names, with how each value is laid out there. `embeddingScale`
 * divides our embedding when we do not scale by sqrt(D) (untied only, see {@link checkExportable}).
 */
function officialTensors(model: MemoryTransformer): Record<string, tf.Tensor> {
  const c = model.config;
  const named = model.namedVariables();
  const get = (name: string): tf.Tensor => {
    const variable = named[name];
    if (!variable) throw new ConversionError(`exportTransformerXl: the model has no variable "${name}"; this is a bug in the converter.`);
    return variable;
  };
  const layout = adaptiveLayout(c);
  const out: Record<string, tf.Tensor> = layout ? adaptiveOfficialTensors(c, layout, get) : {};
  if (!layout) {
    const embedding = c.scaleEmbedding ? tf.clone(get('embedding.weight')) : tf.div(get('embedding.weight'), Math.sqrt(c.modelDim));
    out['word_emb.emb_layers.0.weight'] = embedding;
    out['crit.out_layers.0.weight'] = c.tieEmbeddings ? tf.clone(embedding) : transposed(get('output.weight'));
    out['crit.out_layers.0.bias'] = tf.clone(get('output.bias'));
  }
  out[POSITION_BUFFER] = tf.tensor1d(inverseFrequencies(c.modelDim));
  if (!c.perLayerPositionBiases) {
    out.r_w_bias = tf.clone(get('attention.u_bias'));
    out.r_r_bias = tf.clone(get('attention.v_bias'));
  }
  for (let layer = 0; layer < c.numLayers; layer++) {
    const ours = `layers.${layer}`;
    const theirs = `layers.${layer}`;
    out[`${theirs}.dec_attn.qkv_net.weight`] = tf.tidy(() =>
      tf.concat(
        ['query', 'key', 'value'].map((part) => transposed(get(`${ours}.attention.${part}.weight`))),
        0,
      ),
    );
    out[`${theirs}.dec_attn.r_net.weight`] = transposed(get(`${ours}.attention.position.weight`));
    out[`${theirs}.dec_attn.o_net.weight`] = transposed(get(`${ours}.attention.output.weight`));
    if (c.perLayerPositionBiases) {
      out[`${theirs}.dec_attn.r_w_bias`] = tf.clone(get(`${ours}.attention.u_bias`));
      out[`${theirs}.dec_attn.r_r_bias`] = tf.clone(get(`${ours}.attention.v_bias`));
    }
    out[`${theirs}.dec_attn.layer_norm.weight`] = tf.clone(get(`${ours}.attention_norm.weight`));
    out[`${theirs}.dec_attn.layer_norm.bias`] = tf.clone(get(`${ours}.attention_norm.bias`));
    out[`${theirs}.pos_ff.CoreNet.0.weight`] = transposed(get(`${ours}.feed_forward.inner.weight`));
    out[`${theirs}.pos_ff.CoreNet.0.bias`] = tf.clone(get(`${ours}.feed_forward.inner.bias`));
    out[`${theirs}.pos_ff.CoreNet.3.weight`] = transposed(get(`${ours}.feed_forward.outer.weight`));
    out[`${theirs}.pos_ff.CoreNet.3.bias`] = tf.clone(get(`${ours}.feed_forward.outer.bias`));
    out[`${theirs}.pos_ff.layer_norm.weight`] = tf.clone(get(`${ours}.feed_forward_norm.weight`));
    out[`${theirs}.pos_ff.layer_norm.bias`] = tf.clone(get(`${ours}.feed_forward_norm.bias`));
  }
  return out;
}

/** Hugging Face keeps the output layer (`crit.`) at the top and prefixes everything else with `transformer.`. */
function huggingFaceName(official: string): string {
  return official.startsWith('crit.') ? official : `${HF_PREFIX}${official}`;
}

/**
 * Converts a model to the PyTorch Transformer-XL: the `state_dict` as safetensors bytes (float32,
 * loadable with `model.load_state_dict(safetensors.torch.load(bytes))`, tied weights written under
 * both names) and its config: the official `MemTransformerLM` arguments, or Hugging Face's
 * `TransfoXLConfig` fields. Refuses, naming the option, what the PyTorch model cannot express.
 */
export function exportTransformerXl(model: MemoryTransformer, options: { naming?: TransformerXlNaming } = {}): TransformerXlExport {
  const naming = options.naming ?? 'official';
  if (naming !== 'official' && naming !== 'huggingface') {
    throw new ConversionError(`exportTransformerXl: options.naming must be "official" or "huggingface", got ${JSON.stringify(naming)}.`);
  }
  checkExportable(model, naming);
  const tensors = officialTensors(model);
  try {
    const renamed = naming === 'official' ? tensors : Object.fromEntries(Object.entries(tensors).map(([name, value]) => [huggingFaceName(name), value]));
    const safetensors = encodeSafetensors(renamed, { format: 'pt', converter: 'engram', naming });
    const config = naming === 'official' ? { ...transformerXlConfigOf(model) } : huggingFaceConfigOf(model);
    return { safetensors, config };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/**
 * `tie_projs`, one boolean per cluster at most (missing entries are untied); Hugging Face configs
 * without it derive it from `proj_share_all_but_first` (default true) as Hugging Face does.
 */
function readTieProjections(raw: Record<string, unknown>, naming: TransformerXlNaming, clusters: number, fail: (message: string) => never): boolean[] {
  const given = raw.tie_projs;
  if (given === undefined || given === null) {
    if (naming === 'official') return [false];
    const shareAllButFirst = raw.proj_share_all_but_first ?? true;
    if (typeof shareAllButFirst !== 'boolean') fail(`config "proj_share_all_but_first" must be true or false, got ${JSON.stringify(shareAllButFirst)}.`);
    return Array.from({ length: clusters }, (_, cluster) => cluster > 0 && shareAllButFirst === true);
  }
  if (!Array.isArray(given) || given.length > clusters || given.some((tie) => typeof tie !== 'boolean')) {
    fail(`config "tie_projs" must be at most ${clusters} booleans (one per cluster: len(cutoffs) + 1, head first), got ${JSON.stringify(given)}.`);
  }
  return [...(given as boolean[])];
}

/** The official arguments read from an official or Hugging Face config, checked; throws naming the field. */
function readConfig(raw: Record<string, unknown>, naming: TransformerXlNaming): { official: TransformerXlConfig; untieR: boolean; epsilon: number } {
  const fail = (message: string): never => {
    throw new ConversionError(`importTransformerXl: ${message}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`the config must be a JSON object, got ${JSON.stringify(raw)}.`);
  const field = (name: string, fallback?: unknown): unknown => {
    const value = raw[name] ?? fallback;
    if (value === undefined) fail(`the config has no "${name}"; pass the ${naming === 'official' ? 'MemTransformerLM arguments' : 'Hugging Face config.json'} of the model.`);
    return value;
  };
  const integer = (name: string, fallback?: number): number => {
    const value = field(name, fallback);
    if (typeof value !== 'number' || !Number.isInteger(value)) fail(`config "${name}" must be an integer, got ${JSON.stringify(value)}.`);
    return value as number;
  };
  const boolean = (name: string, fallback?: boolean): boolean => {
    const value = field(name, fallback);
    if (typeof value !== 'boolean') fail(`config "${name}" must be true or false, got ${JSON.stringify(value)}.`);
    return value as boolean;
  };
  const rate = (name: string): number => {
    const value = field(name, 0);
    if (typeof value !== 'number' || !(value >= 0 && value < 1)) fail(`config "${name}" must be a rate in [0, 1), got ${JSON.stringify(value)}.`);
    return value as number;
  };
  const d_model = integer('d_model');
  const cutoffs = field('cutoffs', []);
  if (!Array.isArray(cutoffs)) fail(`config "cutoffs" must be a list of integers, got ${JSON.stringify(cutoffs)}.`);
  const official: TransformerXlConfig = {
    n_token: integer(naming === 'official' ? 'n_token' : 'vocab_size'),
    n_layer: integer('n_layer'),
    n_head: integer('n_head'),
    d_model,
    d_head: integer('d_head'),
    d_inner: integer('d_inner'),
    dropout: rate('dropout'),
    dropatt: rate('dropatt'),
    tie_weight: boolean(naming === 'official' ? 'tie_weight' : 'tie_word_embeddings', true),
    d_embed: integer('d_embed', d_model),
    div_val: integer('div_val', 1),
    tie_projs: [],
    pre_lnorm: boolean('pre_lnorm', false),
    tgt_len: integer('tgt_len', naming === 'official' ? undefined : Math.max(integer('mem_len'), 1)),
    ext_len: integer('ext_len', 0),
    mem_len: integer('mem_len'),
    cutoffs: cutoffs as number[],
    same_length: boolean('same_length', false),
    attn_type: integer('attn_type', 0),
    clamp_len: integer('clamp_len', -1),
    sample_softmax: integer('sample_softmax', -1),
  };
  const refuse = (option: string, why: string): never => fail(`cannot convert ${option}: ${why}`);
  if (official.attn_type !== 0) refuse(`attn_type ${official.attn_type}`, 'only the default relative attention (attn_type 0) exists here.');
  const { n_token, div_val, d_embed } = official;
  if (official.cutoffs.some((cutoff, index) => !Number.isInteger(cutoff) || cutoff < 1 || cutoff >= n_token || (index > 0 && cutoff <= (official.cutoffs[index - 1] as number)))) {
    fail(`config "cutoffs" must be increasing integer token ids in [1, ${n_token}) (n_token), got ${JSON.stringify(official.cutoffs)}.`);
  }
  if (div_val < 1) fail(`config "div_val" must be an integer >= 1, got ${div_val}.`);
  if (d_embed < 1 || Math.floor(d_embed / div_val ** official.cutoffs.length) < 1) {
    fail(`config "d_embed" ${d_embed} with div_val ${div_val} and ${official.cutoffs.length} cutoffs leaves a cluster 0 wide; the config does not describe a valid model.`);
  }
  official.tie_projs = readTieProjections(raw, naming, official.cutoffs.length + 1, fail);
  if (official.n_head * official.d_head !== official.d_model) {
    refuse(`n_head * d_head = ${official.n_head * official.d_head} != d_model ${official.d_model}`, 'attention heads here split d_model (d_head = d_model / n_head).');
  }
  if (official.d_model % 2 !== 0) refuse(`d_model ${official.d_model}`, 'the sinusoid needs an even d_model.');
  if (official.ext_len !== 0) refuse(`ext_len ${official.ext_len}`, 'extended context is not implemented; use ext_len 0.');
  if (official.sample_softmax > 0) refuse(`sample_softmax ${official.sample_softmax}`, 'sampled softmax (out_layer) is not implemented; use the full softmax (sample_softmax -1).');
  if (official.mem_len < 0) refuse(`mem_len ${official.mem_len}`, 'the memory length must be >= 0.');
  if (naming === 'huggingface' && raw.adaptive === false) refuse('adaptive: false', 'only the ProjectedAdaptiveLogSoftmax head (adaptive: true, which with cutoffs [] is a full softmax) converts.');
  const epsilon = naming === 'huggingface' ? (field('layer_norm_epsilon', 1e-5) as number) : 1e-5;
  const untieR = naming === 'huggingface' ? boolean('untie_r', true) : false;
  return { official, untieR, epsilon };
}

/**
 * Builds a model from a PyTorch Transformer-XL: the safetensors bytes of its `state_dict` (official
 * or Hugging Face names, float32/16) and its config (the official arguments or Hugging Face's
 * config.json). The model has FIFO memory of `mem_len` slots (`evalMemoryLength` in evaluation),
 * scaled embeddings, no final norm. Checks every tensor's name, shape and finiteness.
 */
export function importTransformerXl(bytes: Uint8Array, config: Record<string, unknown>, options: TransformerXlImportOptions = {}): MemoryTransformer {
  const { tensors } = decodeSafetensors(bytes);
  try {
    const names = Object.keys(tensors);
    const naming = options.naming ?? (names.some((name) => name.startsWith(HF_PREFIX)) ? 'huggingface' : 'official');
    if (naming !== 'official' && naming !== 'huggingface') {
      throw new ConversionError(`importTransformerXl: options.naming must be "official" or "huggingface", got ${JSON.stringify(naming)}.`);
    }
    const { official, untieR, epsilon } = readConfig(config, naming);
    const modelConfig: ModelConfig = {
      vocabSize: official.n_token,
      modelDim: official.d_model,
      numHeads: official.n_head,
      numLayers: official.n_layer,
      feedForwardDim: official.d_inner,
      segmentLength: official.tgt_len,
      norm: official.pre_lnorm ? 'pre' : 'post',
      finalNorm: false,
      dropout: official.dropout,
      attentionDropout: official.dropatt,
      tieEmbeddings: official.tie_weight,
      clampLength: official.clamp_len > 0 ? official.clamp_len : 0,
      activation: 'relu',
      scaleEmbedding: true,
      perLayerPositionBiases: untieR,
      sameLength: official.same_length,
      layerNormEpsilon: epsilon,
      cutoffs: official.cutoffs,
      embeddingDivisor: official.div_val,
      embeddingDim: official.d_embed,
      tieProjections: official.tie_projs,
    };
    const policy = createFifoPolicy({
      memoryLength: official.mem_len,
      ...(options.evalMemoryLength === undefined ? {} : { evalMemoryLength: options.evalMemoryLength }),
    });
    const model = createModel(modelConfig, { policy });
    try {
      assignConverted(model, tensors, naming);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** Copies PyTorch tensors into the model's variables; every tensor must be known, present, of the right shape and finite. */
function assignConverted(model: MemoryTransformer, tensors: Record<string, tf.Tensor>, naming: TransformerXlNaming): void {
  const c = model.config;
  const unprefixed: Record<string, tf.Tensor> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    const official = naming === 'huggingface' && name.startsWith(HF_PREFIX) ? name.slice(HF_PREFIX.length) : name;
    unprefixed[official] = tensor;
  }
  const used = new Set<string>();
  const take = (name: string, shape: number[]): tf.Tensor => {
    const tensor = unprefixed[name];
    const shown = naming === 'huggingface' ? huggingFaceName(name) : name;
    if (!tensor) {
      throw new ConversionError(
        `importTransformerXl: the weights have no "${shown}" [${shape.join(', ')}]; the file does not match the config (n_layer ${c.numLayers}, d_model ${c.modelDim}, untie_r ${c.perLayerPositionBiases}, cutoffs ${JSON.stringify(c.cutoffs)}, div_val ${c.embeddingDivisor}, d_embed ${c.embeddingDim}, tie_weight ${c.tieEmbeddings}, tie_projs ${JSON.stringify(c.tieProjections)}).`,
      );
    }
    if (tensor.shape.length !== shape.length || tensor.shape.some((size, axis) => size !== shape[axis])) {
      throw new ConversionError(
        `importTransformerXl: "${shown}" is [${tensor.shape.join(', ')}] in the weights but the config (n_token ${c.vocabSize}, d_model ${c.modelDim}, n_head ${c.numHeads}, d_inner ${c.feedForwardDim}, cutoffs ${JSON.stringify(c.cutoffs)}, div_val ${c.embeddingDivisor}, d_embed ${c.embeddingDim}) needs [${shape.join(', ')}].`,
      );
    }
    if (!tf.tidy(() => tf.all(tf.isFinite(tensor)).dataSync()[0])) {
      throw new ConversionError(`importTransformerXl: "${shown}" holds NaN or infinite values; the checkpoint is corrupt or diverged.`);
    }
    used.add(name);
    return tf.cast(tensor, 'float32');
  };
  /** A tied copy, when the file holds it (PyTorch's state_dict does, Hugging Face's save may not), must equal its source. */
  const sameIfPresent = (name: string, shape: number[], reference: tf.Tensor, fix: string): void => {
    if (!unprefixed[name]) return;
    const copy = take(name, shape);
    const differs = tf.tidy(() => tf.max(tf.abs(tf.sub(copy, reference))).dataSync()[0] as number);
    copy.dispose();
    if (differs > 0) throw new ConversionError(`importTransformerXl: ${fix}`);
  };
  const D = c.modelDim;
  const F = c.feedForwardDim;
  const V = c.vocabSize;
  const H = c.numHeads;
  const d = D / H;
  const layout = adaptiveLayout(c);
  const values: Record<string, tf.Tensor> = layout ? adaptiveValuesFromOfficial(c, layout, { take, sameIfPresent }) : {};
  try {
    if (!layout) {
      values['embedding.weight'] = take('word_emb.emb_layers.0.weight', [V, D]);
      if (c.tieEmbeddings) {
        sameIfPresent(
          'crit.out_layers.0.weight',
          [V, D],
          values['embedding.weight'] as tf.Tensor,
          'tie_weight is true but crit.out_layers.0.weight differs from word_emb.emb_layers.0.weight; set tie_weight false in the config.',
        );
      } else {
        const output = take('crit.out_layers.0.weight', [V, D]);
        values['output.weight'] = transposed(output);
        output.dispose();
      }
      values['output.bias'] = take('crit.out_layers.0.bias', [V]);
    }
    if (unprefixed[POSITION_BUFFER]) {
      const frequencies = take(POSITION_BUFFER, [D / 2]);
      const expected = tf.tensor1d(inverseFrequencies(D));
      const differs = tf.tidy(() => tf.max(tf.abs(tf.sub(frequencies, expected))).dataSync()[0] as number);
      tf.dispose([frequencies, expected]);
      if (differs > 1e-6) throw new ConversionError(`importTransformerXl: "${POSITION_BUFFER}" is not the standard sinusoid 1 / 10000^(2k / d_model); this model's position embedding cannot convert.`);
    }
    const linear = (name: string, rows: number, columns: number): tf.Tensor => {
      const weight = take(name, [rows, columns]);
      const result = transposed(weight);
      weight.dispose();
      return result;
    };
    if (!c.perLayerPositionBiases) {
      values['attention.u_bias'] = take('r_w_bias', [H, d]);
      values['attention.v_bias'] = take('r_r_bias', [H, d]);
    }
    for (let layer = 0; layer < c.numLayers; layer++) {
      const theirs = `layers.${layer}`;
      const ours = `layers.${layer}`;
      const qkv = take(`${theirs}.dec_attn.qkv_net.weight`, [3 * D, D]);
      const [query, key, value] = tf.split(qkv, 3, 0);
      qkv.dispose();
      for (const [part, tensor] of [['query', query], ['key', key], ['value', value]] as const) {
        values[`${ours}.attention.${part}.weight`] = transposed(tensor as tf.Tensor);
        (tensor as tf.Tensor).dispose();
      }
      values[`${ours}.attention.position.weight`] = linear(`${theirs}.dec_attn.r_net.weight`, D, D);
      values[`${ours}.attention.output.weight`] = linear(`${theirs}.dec_attn.o_net.weight`, D, D);
      if (c.perLayerPositionBiases) {
        values[`${ours}.attention.u_bias`] = take(`${theirs}.dec_attn.r_w_bias`, [H, d]);
        values[`${ours}.attention.v_bias`] = take(`${theirs}.dec_attn.r_r_bias`, [H, d]);
      }
      values[`${ours}.attention_norm.weight`] = take(`${theirs}.dec_attn.layer_norm.weight`, [D]);
      values[`${ours}.attention_norm.bias`] = take(`${theirs}.dec_attn.layer_norm.bias`, [D]);
      values[`${ours}.feed_forward.inner.weight`] = linear(`${theirs}.pos_ff.CoreNet.0.weight`, F, D);
      values[`${ours}.feed_forward.inner.bias`] = take(`${theirs}.pos_ff.CoreNet.0.bias`, [F]);
      values[`${ours}.feed_forward.outer.weight`] = linear(`${theirs}.pos_ff.CoreNet.3.weight`, D, F);
      values[`${ours}.feed_forward.outer.bias`] = take(`${theirs}.pos_ff.CoreNet.3.bias`, [D]);
      values[`${ours}.feed_forward_norm.weight`] = take(`${theirs}.pos_ff.layer_norm.weight`, [D]);
      values[`${ours}.feed_forward_norm.bias`] = take(`${theirs}.pos_ff.layer_norm.bias`, [D]);
    }
    const unknown = Object.keys(unprefixed).filter((name) => !used.has(name));
    if (unknown.length > 0) {
      throw new ConversionError(
        `importTransformerXl: the weights hold tensors this converter does not know: ${unknown.slice(0, 8).map((name) => (naming === 'huggingface' ? huggingFaceName(name) : name)).join(', ')}${unknown.length > 8 ? ', ...' : ''}; they come from a model variant that does not convert (another attn_type, a sampled softmax) or a config that does not match the file (check cutoffs, div_val, d_embed, tie_weight, tie_projs, untie_r).`,
      );
    }
    const named = model.namedVariables();
    const missing = Object.keys(named).filter((name) => !(name in values));
    if (missing.length > 0) throw new ConversionError(`importTransformerXl: no PyTorch tensor maps to ${missing.join(', ')}; this is a bug in the converter.`);
    for (const [name, variable] of Object.entries(named)) variable.assign(values[name] as tf.Tensor);
  } finally {
    tf.dispose(Object.values(values));
  }
}
