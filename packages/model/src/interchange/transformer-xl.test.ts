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

interface Case {
  norm: 'pre' | 'post';
  tied: boolean;
  sameLength: boolean;
  evalMemoryLength?: number;
}

function caseName(c: Case): string {
  return `${c.norm}-norm, ${c.tied ? 'tied' : 'untied'}, same_length ${c.sameLength ? 'on' : 'off'}${c.evalMemoryLength ? `, eval memory ${c.evalMemoryLength}` : ''}`;
}

/** A tiny official-compatible model with every variable random (layer norms near 1), so every tensor's mapping matters. */
function ourModel(c: Case, seed: number): MemoryTransformer {
  const config: ModelConfig = {
    vocabSize: 11,
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
    [{ cutoffs: [5] }, /cutoffs \[5\].*adaptive/],
    [{ div_val: 4 }, /div_val 4/],
    [{ d_embed: 4 }, /d_embed 4 != d_model 8.*projections/],
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

describe.skipIf(reason !== null)(`logits equal the official PyTorch MemTransformerLM's over 4 segments with memory${reason ? ` (SKIPPED: ${reason})` : ''}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'engram-txl-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const tokens = randomTokens(2, 4 * SEGMENT, 11, 17);
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
        ours.set(`ours-${index}`, ourLogits(model, tokens));
        model.dispose();
        const common = { config: join(work, `config-${index}.json`), tokens, ...(c.evalMemoryLength ? { eval_mem_len: c.evalMemoryLength } : {}) };
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
          ours: ourLogits(imported, tokens),
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
    expect(maxDifference(ourLogits(without, tokens), theirs)).toBeGreaterThan(1e-2);
    without.dispose();
  });
});
