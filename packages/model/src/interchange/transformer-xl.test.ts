// Tests of the PyTorch Transformer-XL converters: round trips, refusals, bad input, and logits equal to the official PyTorch model's (when Python with torch and the reference files are present).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { expectClose, expectNoLeak } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import { afterAll, describe, expect, test } from 'vitest';
import type { ModelConfig } from '../config.js';
import { ConversionError } from '../errors.js';
import { createModel, type MemoryTransformer } from '../model.js';
import { decodeSafetensors, encodeSafetensors } from '../safetensors.js';
import { randomTokens } from '../test-helpers.js';
import { exportTransformerXl, importTransformerXl } from './transformer-xl.js';

const here = dirname(fileURLToPath(import.meta.url));
const SEGMENT = 4;
const MEMORY = 5;

/** Adaptive embeddings and softmax of a case (vocabulary {@link ADAPTIVE_VOCABULARY}). */
interface AdaptiveCase {
  cutoffs: number[];
  divisor: number;
  embeddingDim: number;
  tieProjections: boolean[];
}

interface Case {
  norm: 'pre' | 'post';
  tied: boolean;
  sameLength: boolean;
  evalMemoryLength?: number;
  adaptive?: AdaptiveCase;
}

const PLAIN_VOCABULARY = 11;
const ADAPTIVE_VOCABULARY = 20;

function vocabularyOf(c: Case): number {
  return c.adaptive ? ADAPTIVE_VOCABULARY : PLAIN_VOCABULARY;
}

function caseName(c: Case): string {
  const adaptive = c.adaptive
    ? `adaptive cutoffs ${JSON.stringify(c.adaptive.cutoffs)} div_val ${c.adaptive.divisor} d_embed ${c.adaptive.embeddingDim} tie_projs ${JSON.stringify(c.adaptive.tieProjections)}, `
    : '';
  return `${adaptive}${c.norm}-norm, ${c.tied ? 'tied' : 'untied'}, same_length ${c.sameLength ? 'on' : 'off'}${c.evalMemoryLength ? `, eval memory ${c.evalMemoryLength}` : ''}`;
}

/** A tiny official-compatible model with every variable random (layer norms near 1), so every tensor's mapping matters. */
function ourModel(c: Case, seed: number): MemoryTransformer {
  const config: ModelConfig = {
    vocabSize: vocabularyOf(c),
    modelDim: 8,
    numHeads: 2,
    numLayers: 2,
    feedForwardDim: 12,
    segmentLength: SEGMENT,
    norm: c.norm,
    finalNorm: false,
    tieEmbeddings: c.tied,
    scaleEmbedding: true,
    // Tied cases clamp distances (at 3), untied ones run unclamped (clamp_len -1).
    clampLength: c.tied ? 3 : 0,
    sameLength: c.sameLength,
    seed,
    ...(c.adaptive
      ? { cutoffs: c.adaptive.cutoffs, embeddingDivisor: c.adaptive.divisor, embeddingDim: c.adaptive.embeddingDim, tieProjections: c.adaptive.tieProjections }
      : {}),
  };
  const model = createModel(config, {
    policy: createFifoPolicy({ memoryLength: MEMORY, ...(c.evalMemoryLength ? { evalMemoryLength: c.evalMemoryLength } : {}) }),
  });
  Object.entries(model.namedVariables()).forEach(([name, variable], index) => {
    tf.tidy(() => {
      const noise = tf.randomNormal(variable.shape, 0, 0.3, 'float32', seed * 1000 + index);
      variable.assign(name.endsWith('norm.weight') ? tf.add(noise, 1) : noise);
    });
  });
  return model;
}

/** Logits `[batch][time][vocab]` of the stream fed in segments of SEGMENT with memory carried (evaluation mode). */
function ourLogits(model: MemoryTransformer, tokens: number[][]): number[][][] {
  let state = model.initialState(tokens.length);
  const pieces: tf.Tensor3D[] = [];
  for (let start = 0; start < (tokens[0] as number[]).length; start += SEGMENT) {
    const inputs = tf.tensor2d(tokens.map((row) => row.slice(start, start + SEGMENT)), undefined, 'int32');
    const result = model.forward(inputs, state);
    inputs.dispose();
    pieces.push(result.logits);
    state = result.state;
  }
  disposeState(state);
  const all = tf.concat(pieces, 1);
  const values = all.arraySync() as number[][][];
  tf.dispose([all, ...pieces]);
  return values;
}

function maxDifference(a: number[][][], b: number[][][]): number {
  return Math.max(...a.flat(2).map((value, index) => Math.abs(value - (b.flat(2)[index] as number))));
}

/**
 * Adaptive models (3 clusters unless noted): div_val 1 without and with projections (d_embed !=
 * d_model), div_val 2 (widths 8, 4, 2), tied and untied weights and projections.
 */
const adaptiveCases: Case[] = [
  { norm: 'post', tied: false, sameLength: false, adaptive: { cutoffs: [6, 12], divisor: 1, embeddingDim: 8, tieProjections: [] } },
  { norm: 'post', tied: true, sameLength: false, adaptive: { cutoffs: [6, 12], divisor: 1, embeddingDim: 6, tieProjections: [false, true, true] } },
  { norm: 'pre', tied: false, sameLength: true, adaptive: { cutoffs: [6, 12], divisor: 1, embeddingDim: 6, tieProjections: [] } },
  { norm: 'post', tied: true, sameLength: true, adaptive: { cutoffs: [6, 12], divisor: 2, embeddingDim: 8, tieProjections: [false, true, true] } },
  { norm: 'pre', tied: false, sameLength: false, adaptive: { cutoffs: [6, 12], divisor: 2, embeddingDim: 8, tieProjections: [] } },
  { norm: 'post', tied: true, sameLength: false, adaptive: { cutoffs: [6], divisor: 2, embeddingDim: 12, tieProjections: [true, true] } },
];

describe('round trip through the PyTorch layout (no Python needed)', () => {
  test.each([
    [{ norm: 'post', tied: false, sameLength: false }, 'official'],
    [{ norm: 'pre', tied: true, sameLength: true }, 'official'],
    [{ norm: 'post', tied: true, sameLength: false }, 'huggingface'],
  ] as const)('%o with %s names: export then import gives the same logits, and no tensor leaks', (c, naming) => {
    const before = tf.memory().numTensors;
    const model = ourModel(c, 3);
    const exported = exportTransformerXl(model, { naming });
    const names = Object.keys(decodeSafetensorsNames(exported.safetensors));
    expect(names).toContain(naming === 'official' ? 'layers.1.dec_attn.qkv_net.weight' : 'transformer.layers.1.dec_attn.qkv_net.weight');
    expect(names).toContain('crit.out_layers.0.bias');
    if (naming === 'huggingface') expect(exported.config).toMatchObject({ model_type: 'transfo-xl', vocab_size: 11, untie_r: false, cutoffs: [] });
    else expect(exported.config).toMatchObject({ n_token: 11, d_head: 4, pre_lnorm: c.norm === 'pre', mem_len: MEMORY, same_length: c.sameLength, clamp_len: c.tied ? 3 : -1 });
    const back = importTransformerXl(exported.safetensors, exported.config);
    expect(back.config).toMatchObject({ norm: c.norm, finalNorm: false, tieEmbeddings: c.tied, sameLength: c.sameLength });
    const tokens = randomTokens(2, 12, 11, 9);
    expect(maxDifference(ourLogits(back, tokens), ourLogits(model, tokens))).toBeLessThan(1e-5);
    model.dispose();
    back.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('an unscaled untied embedding is folded into the weights (same logits after the round trip)', () => {
    const model = ourModel({ norm: 'post', tied: false, sameLength: false }, 5);
    const unscaled = createModel({ ...model.config, scaleEmbedding: false }, { policy: createFifoPolicy({ memoryLength: MEMORY }) });
    for (const [name, variable] of Object.entries(unscaled.namedVariables())) variable.assign(model.namedVariables()[name] as tf.Variable);
    const exported = exportTransformerXl(unscaled);
    const back = importTransformerXl(exported.safetensors, exported.config);
    const tokens = randomTokens(1, 8, 11, 2);
    expect(maxDifference(ourLogits(back, tokens), ourLogits(unscaled, tokens))).toBeLessThan(1e-5);
    for (const m of [model, unscaled, back]) m.dispose();
  });

  test.each(adaptiveCases.map((c, index) => [caseName(c), c, index % 2 === 0 ? 'official' : 'huggingface'] as const))(
    'adaptive, %s, %s names: export then import gives the same log-probabilities and config, and no tensor leaks',
    (_, c, naming) => {
      const before = tf.memory().numTensors;
      const model = ourModel(c, 4);
      const exported = exportTransformerXl(model, { naming });
      const adaptive = c.adaptive as AdaptiveCase;
      const clusters = adaptive.cutoffs.length + 1;
      const tieProjs = Array.from({ length: clusters }, (_, cluster) => adaptive.tieProjections[cluster] === true);
      expect(exported.config).toMatchObject({ cutoffs: adaptive.cutoffs, div_val: adaptive.divisor, d_embed: adaptive.embeddingDim, tie_projs: tieProjs });
      const back = importTransformerXl(exported.safetensors, exported.config);
      expect(back.config).toMatchObject({ cutoffs: adaptive.cutoffs, embeddingDivisor: adaptive.divisor, embeddingDim: adaptive.embeddingDim, tieProjections: tieProjs, tieEmbeddings: c.tied });
      expect(Object.keys(back.namedVariables()).sort()).toEqual(Object.keys(model.namedVariables()).sort());
      const tokens = randomTokens(2, 12, ADAPTIVE_VOCABULARY, 9);
      expect(maxDifference(ourLogits(back, tokens), ourLogits(model, tokens))).toBeLessThan(1e-5);
      model.dispose();
      back.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  test('adaptive names and layouts: tables as is, emb_projs transposed, out_projs as is, cluster rows reversed, tied tensors under both names', () => {
    const shared = ourModel(adaptiveCases[1] as Case, 7); // div_val 1, d_embed 6, tied, tie_projs [false, true, true]
    const { tensors } = decodeSafetensors(exportTransformerXl(shared).safetensors);
    const shapes = Object.fromEntries(Object.entries(tensors).filter(([name]) => name.startsWith('word_emb') || name.startsWith('crit')).map(([name, tensor]) => [name, tensor.shape]));
    expect(shapes).toEqual({
      'word_emb.emb_layers.0.weight': [20, 6],
      'word_emb.emb_projs.0': [8, 6],
      'crit.out_layers.0.weight': [20, 6],
      'crit.out_layers.0.bias': [20],
      'crit.out_projs.0': [8, 6],
      'crit.out_projs.1': [8, 6],
      'crit.out_projs.2': [8, 6],
      'crit.cluster_weight': [2, 6],
      'crit.cluster_bias': [2],
    });
    const ours = shared.namedVariables();
    const array = (tensor: tf.Tensor): number[][] => tensor.arraySync() as number[][];
    const transposedArray = (tensor: tf.Tensor): number[][] => tf.tidy(() => array(tf.transpose(tensor)));
    expectClose(array(tensors['word_emb.emb_projs.0'] as tf.Tensor), transposedArray(ours['embedding.projection'] as tf.Variable));
    expectClose(array(tensors['crit.out_projs.0'] as tf.Tensor), array(ours['output.0.projection'] as tf.Variable));
    expectClose(array(tensors['crit.out_projs.2'] as tf.Tensor), array(tensors['word_emb.emb_projs.0'] as tf.Tensor));
    expectClose(array(tensors['crit.out_layers.0.weight'] as tf.Tensor), array(ours['embedding.weight'] as tf.Variable));
    // Row 0 of the official cluster_weight scores the last cluster.
    const clusterColumns = transposedArray(ours['output.cluster.weight'] as tf.Variable);
    expectClose(array(tensors['crit.cluster_weight'] as tf.Tensor), [clusterColumns[1] as number[], clusterColumns[0] as number[]]);
    expectClose(tensors['crit.cluster_bias']?.arraySync() as number[], [...((ours['output.cluster.bias'] as tf.Variable).arraySync() as number[])].reverse());
    tf.dispose(Object.values(tensors));
    shared.dispose();

    const perCluster = ourModel(adaptiveCases[3] as Case, 7); // div_val 2, d_embed 8: widths 8, 4, 2
    const names = decodeSafetensorsNames(exportTransformerXl(perCluster, { naming: 'huggingface' }).safetensors);
    expect(names).toMatchObject({
      'transformer.word_emb.emb_layers.0.weight': [6, 8],
      'transformer.word_emb.emb_layers.1.weight': [6, 4],
      'transformer.word_emb.emb_layers.2.weight': [8, 2],
      'transformer.word_emb.emb_projs.2': [8, 2],
      'crit.out_layers.2.weight': [8, 2],
      'crit.out_layers.2.bias': [8],
      'crit.out_projs.1': [8, 4],
      'crit.cluster_weight': [2, 8],
    });
    perCluster.dispose();
  });

  test('a Hugging Face file without the tied copies and tie_projs (derived from proj_share_all_but_first) imports to the same model', () => {
    const model = ourModel(adaptiveCases[3] as Case, 8);
    const exported = exportTransformerXl(model, { naming: 'huggingface' });
    expect(exported.config.proj_share_all_but_first).toBe(true);
    const { tensors } = decodeSafetensors(exported.safetensors);
    const kept = Object.fromEntries(Object.entries(tensors).filter(([name]) => !/^crit\.out_layers\.\d\.weight$|^crit\.out_projs\.[12]$/.test(name)));
    const { tie_projs: _, ...config } = exported.config;
    const bytes = encodeSafetensors(kept);
    tf.dispose(Object.values(tensors));
    const back = importTransformerXl(bytes, config);
    expect(back.config.tieProjections).toEqual([false, true, true]);
    const tokens = randomTokens(1, 8, ADAPTIVE_VOCABULARY, 3);
    expect(maxDifference(ourLogits(back, tokens), ourLogits(model, tokens))).toBeLessThan(1e-5);
    // Untied projections need the tensors the file lacks.
    expect(() => importTransformerXl(bytes, { ...config, proj_share_all_but_first: false })).toThrow(/no "crit.out_projs.1" \[8, 4\]/);
    model.dispose();
    back.dispose();
  });

  test('an unscaled adaptive embedding folds sqrt(d_model) into an untied projection, else an untied table; refused when both are tied', () => {
    /** Exports an unscaled copy of a random model; checks the round trip, or returns the refusal. */
    const fold = (c: Case, tieProjections: boolean[], tied: boolean): string | null => {
      const model = ourModel({ ...c, tied, adaptive: { ...(c.adaptive as AdaptiveCase), tieProjections } }, 5);
      const unscaled = createModel({ ...model.config, scaleEmbedding: false }, { policy: createFifoPolicy({ memoryLength: MEMORY }) });
      for (const [name, variable] of Object.entries(unscaled.namedVariables())) variable.assign(model.namedVariables()[name] as tf.Variable);
      try {
        const exported = exportTransformerXl(unscaled);
        const back = importTransformerXl(exported.safetensors, exported.config);
        const tokens = randomTokens(1, 8, ADAPTIVE_VOCABULARY, 2);
        // The scale matters: without the fold the difference would be large.
        expect(maxDifference(ourLogits(back, tokens), ourLogits(unscaled, tokens))).toBeLessThan(1e-5);
        expect(maxDifference(ourLogits(model, tokens), ourLogits(unscaled, tokens))).toBeGreaterThan(1e-2);
        back.dispose();
        return null;
      } catch (error) {
        if (!(error instanceof ConversionError)) throw error;
        return error.message;
      } finally {
        for (const m of [model, unscaled]) m.dispose();
      }
    };
    const perCluster = adaptiveCases[3] as Case;
    const shared = adaptiveCases[1] as Case;
    const plain = adaptiveCases[0] as Case;
    expect(fold(perCluster, [], true)).toBeNull(); // into the projections
    expect(fold(perCluster, [true, true, true], false)).toBeNull(); // into the tables
    expect(fold(shared, [false, true], false)).toBeNull(); // the shared projection is tied: into the table
    expect(fold(plain, [], false)).toBeNull(); // no projection: into the table
    expect(fold(perCluster, [false, true], true)).toMatch(/cannot convert config.scaleEmbedding: false with tieEmbeddings: true and tieProjections \[false,true\]: .*of cluster 1 are both shared.*train with scaleEmbedding: true/);
    expect(fold(shared, [false, false, true], true)).toMatch(/the table and projection of the embedding are both shared/);
    expect(fold(plain, [], true)).toMatch(/scaleEmbedding: true/);
  });

  test('import refuses a tied copy that differs from its source', () => {
    const model = ourModel(adaptiveCases[3] as Case, 9);
    const exported = exportTransformerXl(model);
    model.dispose();
    const { tensors } = decodeSafetensors(exported.safetensors);
    const changed = { ...tensors, 'crit.out_projs.1': tf.add(tensors['crit.out_projs.1'] as tf.Tensor, 0.5) };
    expectNoLeak(() =>
      expect(() => importTransformerXl(encodeSafetensors(changed), exported.config)).toThrow(/tie_projs\[1\] is true but crit.out_projs.1 differs from word_emb.emb_projs.1; set tie_projs\[1\] false/),
    );
    const weights = { ...tensors, 'crit.out_layers.2.weight': tf.add(tensors['crit.out_layers.2.weight'] as tf.Tensor, 0.5) };
    expect(() => importTransformerXl(encodeSafetensors(weights), exported.config)).toThrow(/tie_weight is true but crit.out_layers.2.weight differs from word_emb.emb_layers.2.weight/);
    tf.dispose([...Object.values(tensors), changed['crit.out_projs.1'], weights['crit.out_layers.2.weight']]);
  });

  test('import leaks no tensor, also when it fails', () => {
    const model = ourModel({ norm: 'pre', tied: false, sameLength: false }, 6);
    const exported = exportTransformerXl(model);
    model.dispose();
    expectNoLeak(() => importTransformerXl(exported.safetensors, exported.config).dispose());
    expectNoLeak(() => expect(() => importTransformerXl(exported.safetensors, { ...exported.config, d_inner: 13 })).toThrow(ConversionError));
  });
});

/** The tensor names of safetensors bytes (decoded and disposed). */
function decodeSafetensorsNames(bytes: Uint8Array): Record<string, number[]> {
  const { tensors } = decodeSafetensors(bytes);
  const shapes = Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, tensor.shape]));
  tf.dispose(Object.values(tensors));
  return shapes;
}

describe('refusals and bad input name the option', () => {
  const base = { norm: 'post', tied: false, sameLength: false } as const;

  test.each([
    [{ finalNorm: true }, /finalNorm/],
    [{ activation: 'gelu' }, /activation/],
    [{ scaleEmbedding: false, tieEmbeddings: true }, /scaleEmbedding/],
    [{ perLayerPositionBiases: true }, /perLayerPositionBiases/],
  ] as const)('export refuses %o', (overrides, pattern) => {
    const model = createModel({ ...ourModel(base, 1).config, ...overrides }, { policy: createFifoPolicy({ memoryLength: 2 }) });
    expect(() => exportTransformerXl(model)).toThrow(pattern);
    model.dispose();
  });

  test('per-layer biases convert with Hugging Face names (untie_r)', () => {
    const model = createModel({ ...ourModel(base, 1).config, perLayerPositionBiases: true }, { policy: createFifoPolicy({ memoryLength: 2 }) });
    const exported = exportTransformerXl(model, { naming: 'huggingface' });
    expect(exported.config.untie_r).toBe(true);
    expect(Object.keys(decodeSafetensorsNames(exported.safetensors))).toContain('transformer.layers.0.dec_attn.r_w_bias');
    const back = importTransformerXl(exported.safetensors, exported.config);
    expect(back.config.perLayerPositionBiases).toBe(true);
    const tokens = randomTokens(1, 8, 11, 4);
    expect(maxDifference(ourLogits(back, tokens), ourLogits(model, tokens))).toBeLessThan(1e-5);
    model.dispose();
    back.dispose();
  });

  const exported = (() => {
    const model = ourModel(base, 2);
    const result = exportTransformerXl(model);
    model.dispose();
    return result;
  })();

  test.each([
    [{ cutoffs: [5] }, /no "crit.cluster_weight" \[1, 8\]; the file does not match the config .*cutoffs \[5\]/],
    [{ div_val: 4 }, /no "word_emb.emb_projs.0" \[8, 8\].*div_val 4/],
    [{ d_embed: 4 }, /"word_emb.emb_layers.0.weight" is \[11, 8\] .*d_embed 4\) needs \[11, 4\]/],
    [{ cutoffs: [11] }, /"cutoffs" must be increasing integer token ids in \[1, 11\) \(n_token\), got \[11\]/],
    [{ cutoffs: [6, 3] }, /"cutoffs" must be increasing/],
    [{ div_val: 0 }, /"div_val" must be an integer >= 1, got 0/],
    [{ cutoffs: [3, 6], d_embed: 8, div_val: 4 }, /"d_embed" 8 with div_val 4 and 2 cutoffs leaves a cluster 0 wide/],
    [{ tie_projs: [false, true] }, /"tie_projs" must be at most 1 booleans \(one per cluster/],
    [{ tie_projs: 'yes' }, /"tie_projs" must be at most 1 booleans/],
    [{ attn_type: 2 }, /attn_type 2/],
    [{ d_head: 3 }, /n_head \* d_head/],
    [{ ext_len: 2 }, /ext_len 2/],
    [{ n_layer: 3 }, /no "layers.2.dec_attn.qkv_net.weight"/],
    [{ d_inner: 13 }, /"layers.0.pos_ff.CoreNet.0.weight" is \[12, 8\].*needs \[13, 8\]/],
    [{ n_token: undefined }, /no "n_token"/],
  ] as const)('import refuses config %o', (overrides, pattern) => {
    expect(() => importTransformerXl(exported.safetensors, { ...exported.config, ...overrides })).toThrow(pattern);
  });

  test('import refuses NaN weights, unknown tensors and corrupt bytes', () => {
    const { tensors } = decodeSafetensors(exported.safetensors);
    const poisoned = { ...tensors, r_w_bias: tf.fill([2, 4], Number.NaN) };
    expect(() => importTransformerXl(encodeSafetensors(poisoned), exported.config)).toThrow(/"r_w_bias" holds NaN/);
    const extra = { ...tensors, 'crit.out_projs.0': tf.zeros([8, 8]) };
    expect(() => importTransformerXl(encodeSafetensors(extra), exported.config)).toThrow(/does not know: crit.out_projs.0/);
    tf.dispose([...Object.values(tensors), poisoned.r_w_bias, extra['crit.out_projs.0']]);
    expect(() => importTransformerXl(exported.safetensors.subarray(0, 100), exported.config)).toThrow(/truncated/);
  });
});

// --- Equivalence with the official PyTorch code --------------------------------------------------

const python = process.env.ENGRAM_PYTHON ?? '/usr/bin/python3';
const reference = resolve(process.env.ENGRAM_TRANSFORMER_XL_REFERENCE ?? join(here, '../../../../../shared/reference/transformer-xl'));

/** Why the official model cannot run here, or null when it can. */
function skipReason(): string | null {
  if (!existsSync(join(reference, 'pytorch/mem_transformer.py'))) {
    return `the official Transformer-XL files are not at ${reference} (set ENGRAM_TRANSFORMER_XL_REFERENCE)`;
  }
  const probe = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${python} cannot import torch and numpy (apt-get install python3-torch python3-numpy, or set ENGRAM_PYTHON)`;
  return null;
}

const reason = skipReason();
if (reason) console.warn(`[transformer-xl] SKIPPED the PyTorch equivalence tests: ${reason}.`);

const cases: Case[] = [];
for (const norm of ['post', 'pre'] as const) {
  for (const tied of [false, true]) for (const sameLength of [false, true]) cases.push({ norm, tied, sameLength });
}
cases.push({ norm: 'post', tied: false, sameLength: true, evalMemoryLength: 8 });
cases.push(...adaptiveCases);

describe.skipIf(reason !== null)(`logits equal the official PyTorch MemTransformerLM's over 4 segments with memory${reason ? ` (SKIPPED: ${reason})` : ''}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'engram-txl-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const tokensOf = (c: Case): number[][] => randomTokens(2, 4 * SEGMENT, vocabularyOf(c), 17);
  const results = new Map<string, { ours: number[][][]; theirs: number[][][] }>();

  /** Runs every case in one Python process (torch starts once): ours -> theirs and theirs -> ours. */
  const runAll = (() => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const jobs: Record<string, unknown>[] = [];
      const ours = new Map<string, number[][][]>();
      cases.forEach((c, index) => {
        const model = ourModel(c, 10 + index);
        const exported = exportTransformerXl(model);
        writeFileSync(join(work, `ours-${index}.safetensors`), exported.safetensors);
        writeFileSync(join(work, `config-${index}.json`), JSON.stringify(exported.config));
        ours.set(`ours-${index}`, ourLogits(model, tokensOf(c)));
        model.dispose();
        const common = {
          config: join(work, `config-${index}.json`),
          tokens: tokensOf(c),
          ...(c.evalMemoryLength ? { eval_mem_len: c.evalMemoryLength } : {}),
          // Adaptive models output log-probabilities: compare with the official criterion's.
          ...(c.adaptive ? { log_probs: true } : {}),
        };
        jobs.push({ ...common, weights: join(work, `ours-${index}.safetensors`), logits: join(work, `ours-${index}.json`) });
        jobs.push({ ...common, create: 100 + index, weights: join(work, `theirs-${index}.safetensors`), logits: join(work, `theirs-${index}.json`) });
      });
      writeFileSync(join(work, 'jobs.json'), JSON.stringify({ reference, jobs }));
      const run = spawnSync(python, [join(here, 'run-official-transformer-xl.py'), join(work, 'jobs.json')], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`the official model failed (exit ${run.status}):\n${run.stderr}`);
      cases.forEach((c, index) => {
        results.set(`ours->theirs ${index}`, {
          ours: ours.get(`ours-${index}`) as number[][][],
          theirs: JSON.parse(readFileSync(join(work, `ours-${index}.json`), 'utf8')) as number[][][],
        });
        const config = JSON.parse(readFileSync(join(work, `config-${index}.json`), 'utf8')) as Record<string, unknown>;
        const imported = importTransformerXl(readFileSync(join(work, `theirs-${index}.safetensors`)), config, c.evalMemoryLength ? { evalMemoryLength: c.evalMemoryLength } : {});
        results.set(`theirs->ours ${index}`, {
          ours: ourLogits(imported, tokensOf(c)),
          theirs: JSON.parse(readFileSync(join(work, `theirs-${index}.json`), 'utf8')) as number[][][],
        });
        imported.dispose();
      });
    };
  })();

  test.each(cases.flatMap((c, index) => (['ours->theirs', 'theirs->ours'] as const).map((direction) => [direction, caseName(c), index] as const)))(
    '%s, %s',
    (direction, _, index) => {
      runAll();
      const { ours, theirs } = results.get(`${direction} ${index}`) as { ours: number[][][]; theirs: number[][][] };
      expect(theirs.length).toBe(2);
      expect((theirs[0] as number[][]).length).toBe(4 * SEGMENT);
      expectClose(ours, theirs, { atol: 1e-4, rtol: 1e-4, message: `${direction} ${index}` });
      // The logits are far from uniform, so the comparison means something.
      expect(Math.max(...theirs.flat(2)) - Math.min(...theirs.flat(2))).toBeGreaterThan(1);
    },
    120_000,
  );

  test('the options change the logits (the comparison can fail): same_length and the eval memory matter', () => {
    runAll();
    // Same seeds for ours are distinct per case, so compare theirs -> ours of one case with a model without same_length.
    const index = cases.findIndex((c) => c.sameLength && !c.evalMemoryLength);
    const config = JSON.parse(readFileSync(join(work, `config-${index}.json`), 'utf8')) as Record<string, unknown>;
    const weights = readFileSync(join(work, `theirs-${index}.safetensors`));
    const without = importTransformerXl(weights, { ...config, same_length: false });
    const theirs = (results.get(`theirs->ours ${index}`) as { theirs: number[][][] }).theirs;
    expect(maxDifference(ourLogits(without, tokensOf(cases[index] as Case)), theirs)).toBeGreaterThan(1e-2);
    without.dispose();
  });

  test('the cluster order matters (the comparison can fail): the official cluster rows kept in file order give other log-probabilities', () => {
    runAll();
    const index = cases.findIndex((c) => c.adaptive && c.adaptive.cutoffs.length === 2);
    const config = JSON.parse(readFileSync(join(work, `config-${index}.json`), 'utf8')) as Record<string, unknown>;
    const imported = importTransformerXl(readFileSync(join(work, `theirs-${index}.safetensors`)), config);
    for (const name of ['output.cluster.weight', 'output.cluster.bias']) {
      const variable = imported.namedVariables()[name] as tf.Variable;
      tf.tidy(() => variable.assign(tf.reverse(variable, variable.rank - 1)));
    }
    const theirs = (results.get(`theirs->ours ${index}`) as { theirs: number[][][] }).theirs;
    expect(maxDifference(ourLogits(imported, tokensOf(cases[index] as Case)), theirs)).toBeGreaterThan(1e-2);
    imported.dispose();
  });
});
