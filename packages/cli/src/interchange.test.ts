// End-to-end: train here -> engram export --format transformer-xl -> engram import -> same evaluation; and the commands' refusals.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createByteTokenizer } from '@engram/datasets';
import { saveTokenizer } from '@engram/datasets/node';
import { createFifoPolicy } from '@engram/memory';
import { createModel, decodeSafetensors, type MemoryTransformer } from '@engram/model';
import { saveModel } from '@engram/model/node';
import { describe, expect, it } from 'vitest';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { trainCommand } from './commands/train.js';
import { captureIo } from './io.js';
import { loadTrainedModel } from './model-files.js';
import { runCli } from './program.js';
import { temporaryRoot, tinyRunSettings } from './test-support.js';

const root = temporaryRoot('engram-cli-interchange-');

const tinySettings = [...tinyRunSettings(), 'memory.memoryLength=8'];

/** An official-compatible pre-norm model: no final norm, scaled embeddings, same_length. */
const pytorchSettings = ['model.finalNorm=false', 'model.scaleEmbedding=true', 'model.sameLength=true', 'model.clampLength=0'];

/** The two models have the same variables, equal to 1e-6. */
function expectSameWeights(original: MemoryTransformer, imported: MemoryTransformer): void {
  const a = original.namedVariables();
  const b = imported.namedVariables();
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const [name, variable] of Object.entries(a)) {
    const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(variable, b[name] as tf.Variable))).dataSync()[0] as number);
    expect(difference, name).toBeLessThan(1e-6);
  }
}

/** Gives every variable random values (layer norms near 1), so that every tensor's mapping matters. */
function randomize(model: MemoryTransformer): void {
  Object.entries(model.namedVariables()).forEach(([name, variable], index) => {
    tf.tidy(() => {
      const noise = tf.randomNormal(variable.shape, 0, 0.3, 'float32', 1000 + index);
      variable.assign(name.endsWith('norm.weight') ? tf.add(noise, 1) : noise);
    });
  });
}

describe('engram train with adaptive embeddings and softmax', () => {
  it('trains from --set flags (model.cutoffs, embeddingDivisor, tieProjections), exports the official adaptive names and imports back the same weights', async () => {
    const before = tf.memory().numTensors;
    const io = captureIo();
    const run = join(root, 'adaptive-run');
    const adaptiveSettings = ['model.cutoffs=[40, 80]', 'model.embeddingDivisor=2', 'model.tieProjections=[false, true, true]', 'model.tieEmbeddings=true'];
    const trained = await trainCommand({ kind: 'txl', settings: [...tinySettings, ...pytorchSettings, ...adaptiveSettings], out: run, progress: 'none', backend: 'wasm' }, io);
    expect(trained.result.step).toBeGreaterThan(0);
    expect(Number.isFinite(trained.validationBitsPerToken)).toBe(true);
    const pytorch = join(root, 'adaptive-run-pytorch');
    expect(await runCli(['export', run, '--out', pytorch, '--format', 'transformer-xl', '--backend', 'wasm'], io)).toBe(0);
    const config = JSON.parse(readFileSync(join(pytorch, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ cutoffs: [40, 80], div_val: 2, tie_weight: true, tie_projs: [false, true, true] });
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(pytorch, 'model.safetensors'))));
    expect(Object.keys(tensors)).toEqual(expect.arrayContaining(['word_emb.emb_layers.2.weight', 'word_emb.emb_projs.1', 'crit.cluster_weight', 'crit.cluster_bias']));
    tf.dispose(Object.values(tensors));
    const back = join(root, 'adaptive-run-back');
    expect(await runCli(['import', pytorch, '--out', back, '--backend', 'wasm'], io)).toBe(0);
    const original = await loadTrainedModel(run);
    const imported = await loadTrainedModel(back);
    try {
      expectSameWeights(original.model, imported.model);
    } finally {
      original.model.dispose();
      imported.model.dispose();
    }
    // A bad cutoff is a config error naming the field.
    const failing = captureIo();
    expect(await runCli(['train', '--out', join(root, 'adaptive-bad'), '--set', 'model.cutoffs=[0]', '--backend', 'wasm'], failing)).not.toBe(0);
    expect(failing.errors()).toMatch(/model\.cutoffs/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('engram train --set model.recomputeBlocks=true', () => {
  it('reaches the model (saved in its config) and trains to the same losses as without it', async () => {
    const io = captureIo();
    const plain = await trainCommand({ kind: 'txl', settings: tinySettings, out: join(root, 'recompute-off'), progress: 'none', backend: 'wasm' }, io);
    const recomputed = await trainCommand(
      { kind: 'txl', settings: [...tinySettings, 'model.recomputeBlocks=true'], out: join(root, 'recompute-on'), progress: 'none', backend: 'wasm' },
      io,
    );
    expect(recomputed.result.lastLoss).toBeCloseTo(plain.result.lastLoss ?? Number.NaN, 5);
    const loaded = await loadTrainedModel(join(root, 'recompute-on'));
    try {
      expect(loaded.model.config.recomputeBlocks).toBe(true);
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('engram export --format transformer-xl and engram import', () => {
  const run = join(root, 'run');
  const pytorch = join(root, 'pytorch');
  const back = join(root, 'back');

  it('round-trips a trained model: same weights, same evaluation, the official state_dict names and config', async () => {
    const before = tf.memory().numTensors;
    const io = captureIo();
    await trainCommand({ kind: 'txl', settings: [...tinySettings, ...pytorchSettings], out: run, progress: 'none', backend: 'wasm' }, io);
    expect(await runCli(['export', run, '--out', pytorch, '--format', 'transformer-xl', '--backend', 'wasm'], io)).toBe(0);
    const config = JSON.parse(readFileSync(join(pytorch, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ n_layer: 2, d_model: 16, n_head: 2, d_head: 8, d_inner: 32, tgt_len: 8, mem_len: 8, pre_lnorm: true, same_length: true, clamp_len: -1, tie_weight: false, cutoffs: [] });
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(pytorch, 'model.safetensors'))));
    expect(Object.keys(tensors)).toEqual(expect.arrayContaining(['word_emb.emb_layers.0.weight', 'r_w_bias', 'layers.1.pos_ff.CoreNet.3.weight', 'crit.out_layers.0.bias', 'pos_emb.inv_freq']));
    tf.dispose(Object.values(tensors));
    expect(existsSync(join(pytorch, 'tokenizer.json'))).toBe(true);

    expect(await runCli(['import', pytorch, '--out', back, '--eval-memory-length', '12', '--backend', 'wasm'], io)).toBe(0);
    expect(io.output()).toMatch(/imported a 2-layer pre-norm Transformer-XL \(\d+ parameters\)/);
    const original = await loadTrainedModel(run);
    const imported = await loadTrainedModel(back);
    try {
      expectSameWeights(original.model, imported.model);
      expect(imported.model.policy.config()).toMatchObject({ memoryLength: 8, evalMemoryLength: 12 });
    } finally {
      original.model.dispose();
      imported.model.dispose();
    }
    // Same eval memory on both sides: the same bits per token.
    const importedSameMemory = join(root, 'back-same-memory');
    await importCommand({ source: pytorch, out: importedSameMemory, backend: 'wasm' }, io);
    const ours = await evalCommand({ model: run, tokens: 48, batchSize: 2, backend: 'wasm', json: true }, io);
    const theirs = await evalCommand({ model: importedSameMemory, tokens: 48, batchSize: 2, backend: 'wasm', json: true }, io);
    expect(theirs.bitsPerToken).toBeCloseTo(ours.bitsPerToken, 5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('engram eval --same-length --eval-memory-length: the papers\' protocol changes the result, identically here and after the round trip', async () => {
    const io = captureIo();
    const options = { tokens: 48, batchSize: 2, backend: 'wasm', json: true } as const;
    const saved = await evalCommand({ model: run, ...options }, io);
    const without = await evalCommand({ model: run, ...options, sameLength: false }, io);
    const longer = await evalCommand({ model: run, ...options, evalMemoryLength: 16 }, io);
    // A barely trained model is near uniform, so the differences are small, yet far above float noise.
    expect(Math.abs(without.bitsPerToken - saved.bitsPerToken)).toBeGreaterThan(1e-6);
    expect(Math.abs(longer.bitsPerToken - saved.bitsPerToken)).toBeGreaterThan(1e-6);
    const imported = await evalCommand({ model: join(root, 'back-same-memory'), ...options, evalMemoryLength: 16 }, io);
    expect(imported.bitsPerToken).toBeCloseTo(longer.bitsPerToken, 5);
    expect(await runCli(['eval', run, '--tokens', '48', '--eval-memory-length', '-1', '--backend', 'wasm'], io)).not.toBe(0);
    expect(io.errors()).toMatch(/--eval-memory-length must be an integer >= 0/);
  });

  it('writes Hugging Face names with --naming huggingface, and import detects them', async () => {
    const io = captureIo();
    const hf = join(root, 'hf');
    await exportCommand({ source: run, out: hf, format: 'transformer-xl', naming: 'huggingface', backend: 'wasm' }, io);
    const config = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ model_type: 'transfo-xl', architectures: ['TransfoXLLMHeadModel'], n_layer: 2, tie_word_embeddings: false });
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(hf, 'model.safetensors'))));
    expect(Object.keys(tensors)).toEqual(expect.arrayContaining(['transformer.word_emb.emb_layers.0.weight', 'transformer.r_w_bias', 'crit.out_layers.0.weight']));
    tf.dispose(Object.values(tensors));
    const out = await importCommand({ source: hf, out: join(root, 'hf-back'), backend: 'wasm' }, io);
    const imported = await loadTrainedModel(out);
    expect(imported.model.config).toMatchObject({ norm: 'pre', finalNorm: false, sameLength: true });
    imported.model.dispose();
  });

  it('round-trips an adaptive model (cutoffs, div_val 2, tied weights and tail projections) with both namings: same weights, same evaluation', async () => {
    const io = captureIo();
    const adaptive = join(root, 'adaptive');
    const model = createModel(
      {
        vocabSize: 256,
        modelDim: 16,
        numHeads: 2,
        numLayers: 2,
        feedForwardDim: 32,
        segmentLength: 8,
        norm: 'post',
        scaleEmbedding: true,
        tieEmbeddings: true,
        cutoffs: [32, 128],
        embeddingDivisor: 2,
        embeddingDim: 16,
        tieProjections: [false, true, true],
        seed: 5,
      },
      { policy: createFifoPolicy({ memoryLength: 8 }) },
    );
    randomize(model);
    mkdirSync(adaptive);
    await saveModel(model, adaptive);
    await saveTokenizer(createByteTokenizer(), join(adaptive, 'tokenizer.json'));
    model.dispose();
    for (const naming of ['official', 'huggingface'] as const) {
      const pytorch = join(root, `adaptive-${naming}`);
      const back = join(root, `adaptive-${naming}-back`);
      expect(await runCli(['export', adaptive, '--out', pytorch, '--format', 'transformer-xl', '--naming', naming, '--backend', 'wasm'], io)).toBe(0);
      const config = JSON.parse(readFileSync(join(pytorch, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config).toMatchObject({ cutoffs: [32, 128], div_val: 2, d_embed: 16, tie_projs: [false, true, true], ...(naming === 'official' ? { tie_weight: true } : { tie_word_embeddings: true, proj_share_all_but_first: true }) });
      const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(pytorch, 'model.safetensors'))));
      const prefix = naming === 'official' ? '' : 'transformer.';
      expect(Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, tensor.shape]))).toMatchObject({
        [`${prefix}word_emb.emb_layers.2.weight`]: [128, 4],
        [`${prefix}word_emb.emb_projs.1`]: [16, 8],
        'crit.out_layers.1.weight': [96, 8],
        'crit.out_projs.2': [16, 4],
        'crit.cluster_weight': [2, 16],
        'crit.cluster_bias': [2],
      });
      tf.dispose(Object.values(tensors));
      expect(await runCli(['import', pytorch, '--out', back, '--backend', 'wasm'], io)).toBe(0);
      expect(io.output()).toMatch(/imported a 2-layer post-norm Transformer-XL with adaptive input and softmax \(cutoffs \[32,128\], div_val 2, d_embed 16\)/);
      const original = await loadTrainedModel(adaptive);
      const imported = await loadTrainedModel(back);
      try {
        expect(imported.model.config).toMatchObject({ cutoffs: [32, 128], embeddingDivisor: 2, embeddingDim: 16, tieProjections: [false, true, true], tieEmbeddings: true });
        expectSameWeights(original.model, imported.model);
      } finally {
        original.model.dispose();
        imported.model.dispose();
      }
      const options = { tokens: 48, batchSize: 2, backend: 'wasm', json: true } as const;
      const ours = await evalCommand({ model: adaptive, ...options }, io);
      const theirs = await evalCommand({ model: back, ...options }, io);
      expect(theirs.bitsPerToken).toBeCloseTo(ours.bitsPerToken, 5);
    }
  });

  it('refuses, exiting non-zero with the option named: an unconvertible model, an existing model, missing files, bad JSON, a missing tokenizer', async () => {
    const io = captureIo();
    const plain = join(root, 'plain');
    await trainCommand({ kind: 'txl', settings: tinySettings, out: plain, progress: 'none', backend: 'wasm' }, io);
    expect(await runCli(['export', plain, '--out', join(root, 'refused'), '--format', 'transformer-xl', '--backend', 'wasm'], io)).not.toBe(0);
    expect(io.errors()).toMatch(/ConversionError: .*config.finalNorm: true.*finalNorm: false/);
    expect(await runCli(['export', plain, '--out', join(root, 'refused'), '--naming', 'huggingface', '--backend', 'wasm'], io)).toBe(2);
    expect(io.errors()).toMatch(/--naming applies to --format transformer-xl only/);

    expect(await runCli(['import', pytorch, '--out', back, '--backend', 'wasm'], io)).toBe(2);
    expect(io.errors()).toMatch(/already holds a model/);
    expect(await runCli(['import', join(root, 'nowhere'), '--out', join(root, 'x'), '--backend', 'wasm'], io)).toBe(1);
    expect(io.errors()).toMatch(/cannot read the weights .*model.safetensors/);

    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'model.safetensors'), readFileSync(join(pytorch, 'model.safetensors')));
    writeFileSync(join(broken, 'config.json'), '{ "n_layer": ');
    expect(await runCli(['import', broken, '--out', join(root, 'y'), '--backend', 'wasm'], io)).toBe(1);
    expect(io.errors()).toMatch(/config.json is not valid JSON/);
    const config = JSON.parse(readFileSync(join(pytorch, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...config, cutoffs: [20, 40], div_val: 4 }));
    expect(await runCli(['import', broken, '--out', join(root, 'z'), '--backend', 'wasm'], io)).toBe(1);
    // An adaptive config does not describe the plain weights: the first tensor that disagrees is named.
    expect(io.errors()).toMatch(/"word_emb.emb_layers.0.weight" is \[90, 16\] in the weights but the config \(.*cutoffs \[20,40\], div_val 4, d_embed 16\) needs \[20, 16\]/);
    writeFileSync(join(broken, 'config.json'), JSON.stringify(config));
    expect(await runCli(['import', broken, '--out', join(root, 'w'), '--backend', 'wasm'], io)).toBe(2);
    expect(io.errors()).toMatch(/has no tokenizer.json: pass --tokenizer/);
    expect(await runCli(['import', broken, '--out', join(root, 'w'), '--tokenizer', join(pytorch, 'tokenizer.json'), '--backend', 'wasm'], io)).toBe(0);
  });
});
