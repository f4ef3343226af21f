// End-to-end: train here -> engram export --format transformer-xl -> engram import -> same evaluation; and the commands' refusals.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeSafetensors } from '@engram/model';
import { afterAll, describe, expect, it } from 'vitest';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { trainCommand } from './commands/train.js';
import { captureIo } from './io.js';
import { loadTrainedModel } from './model-files.js';
import { runCli } from './program.js';

const root = mkdtempSync(join(tmpdir(), 'engram-cli-interchange-'));
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const tinySettings = [
  'model.modelDim=16',
  'model.numHeads=2',
  'model.numLayers=2',
  'model.feedForwardDim=32',
  'model.segmentLength=8',
  'memory.memoryLength=8',
  'training.steps=2',
  'training.batchSize=2',
  'training.warmupSteps=1',
  'training.evalTokens=32',
];

/** An official-compatible pre-norm model: no final norm, scaled embeddings, same_length. */
const pytorchSettings = ['model.finalNorm=false', 'model.scaleEmbedding=true', 'model.sameLength=true', 'model.clampLength=0'];

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
      const a = original.model.namedVariables();
      const b = imported.model.namedVariables();
      expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
      for (const [name, variable] of Object.entries(a)) {
        const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(variable, b[name] as tf.Variable))).dataSync()[0] as number);
        expect(difference, name).toBeLessThan(1e-6);
      }
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
    expect(io.errors()).toMatch(/cannot convert cutoffs \[20,40\]/);
    writeFileSync(join(broken, 'config.json'), JSON.stringify(config));
    expect(await runCli(['import', broken, '--out', join(root, 'w'), '--backend', 'wasm'], io)).toBe(2);
    expect(io.errors()).toMatch(/has no tokenizer.json: pass --tokenizer/);
    expect(await runCli(['import', broken, '--out', join(root, 'w'), '--tokenizer', join(pytorch, 'tokenizer.json'), '--backend', 'wasm'], io)).toBe(0);
  });
});
