// End-to-end: a tiny train -> eval -> generate -> export -> inspect flow per memory kind in a temporary directory, plus the data commands.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadBundledBook } from '@engram/datasets';
import { readSafetensors } from '@engram/model/node';
import { describe, expect, it } from 'vitest';
import { dataDownloadCommand, dataListCommand, dataPrepareCommand, dataVerifyCommand } from './commands/data.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { trainCommand } from './commands/train.js';
import { captureIo } from './io.js';
import { loadCorpusTokens } from './data.js';
import { loadTrainedModel } from './model-files.js';
import { runCli } from './program.js';
import { temporaryRoot, tinyRunSettings } from './test-support.js';

const root = temporaryRoot('engram-cli-flow-');

/** A model small enough to train a few steps in about a second. */
const tinySettings = tinyRunSettings({ modelDim: 32, segmentLength: 16, steps: 3, evalTokens: 64 });

const memorySettings: Record<string, string[]> = {
  txl: ['memory.memoryLength=16'],
  compressive: ['memory.memoryLength=8', 'memory.compressedLength=4', 'memory.compressionRate=2', 'memory.training=bptt'],
  'expire-span': ['memory.maxSpan=64', 'memory.ramp=4'],
  'adaptive-span': ['memory.maxSpan=32', 'memory.ramp=4', 'memory.buffer=8'],
};

describe.each(Object.keys(memorySettings))('the %s flow', (kind) => {
  const run = join(root, kind);

  it('trains, then evaluates, generates, exports and inspects without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const io = captureIo();
    const trained = await trainCommand(
      { kind, settings: [...tinySettings, ...(memorySettings[kind] ?? [])], out: run, progress: 'none', backend: 'wasm' },
      io,
    );
    expect(trained.result.step).toBe(3);
    expect(trained.validationBitsPerToken).toBeGreaterThan(0);
    for (const file of ['config.yaml', 'tokenizer.json', 'train.jsonl', 'model/config.json', 'model/model.safetensors', 'model/engram.json']) {
      expect(existsSync(join(run, file)), file).toBe(true);
    }
    expect(io.output()).toMatch(new RegExp(`^trained ${kind} for 3 steps: validation \\d+\\.\\d{4} bits per token`));

    const evaluation = await evalCommand({ model: run, tokens: 64, backend: 'wasm', json: true }, io);
    expect(evaluation.count).toBe(64);
    expect(Number.isFinite(evaluation.bitsPerToken)).toBe(true);
    // Same tokens, same weights: eval reproduces the trainer's last validation number.
    expect(evaluation.bitsPerToken).toBeCloseTo(trained.validationBitsPerToken ?? Number.NaN, 4);

    const first = await generateCommand({ model: run, prompt: 'The whale', maxNewTokens: 20, seed: 7, backend: 'wasm' }, io);
    const second = await generateCommand({ model: run, prompt: 'The whale', maxNewTokens: 20, seed: 7, backend: 'wasm' }, io);
    expect(first).toBe(second);
    expect(first.length).toBeGreaterThan(0);

    const exported = await exportCommand({ source: run, out: join(root, `${kind}-export`), backend: 'wasm' }, io);
    const reloaded = await loadTrainedModel(exported);
    const original = await loadTrainedModel(run);
    try {
      const a = original.model.namedVariables();
      const b = reloaded.model.namedVariables();
      expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
      for (const [name, variable] of Object.entries(a)) {
        expect(Array.from(b[name]?.dataSync() ?? []), name).toEqual(Array.from(variable.dataSync()));
      }
      expect(reloaded.document?.config.kind).toBe(kind);
    } finally {
      reloaded.model.dispose();
      original.model.dispose();
    }

    const svg = join(root, `${kind}.svg`);
    const timeline = await inspectCommand({ model: run, tokens: 80, out: svg, backend: 'wasm' }, io);
    expect(timeline.tokens).toBe(80);
    expect(timeline.layers).toHaveLength(2);
    expect(timeline.layers[0]).toHaveLength(5);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<rect[\s\S]*<\/svg>\n$/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('export details', () => {
  it('exports the latest checkpoint and TensorFlow.js weights that decode to the same tensors', async () => {
    const run = join(root, 'txl');
    const io = captureIo();
    const fromCheckpoint = await exportCommand({ source: run, out: join(root, 'ckpt-export'), checkpoint: 'latest', backend: 'wasm' }, io);
    const final = await readSafetensors(join(run, 'model', 'model.safetensors'));
    const exported = await readSafetensors(join(fromCheckpoint, 'model.safetensors'));
    try {
      for (const [name, tensor] of Object.entries(final.tensors)) {
        expect(Array.from(exported.tensors[name]?.dataSync() ?? []), name).toEqual(Array.from(tensor.dataSync()));
      }
    } finally {
      tf.dispose([...Object.values(final.tensors), ...Object.values(exported.tensors)]);
    }

    const tfjs = await exportCommand({ source: run, out: join(root, 'tfjs-export'), format: 'tfjs', backend: 'wasm' }, io);
    const manifest = JSON.parse(readFileSync(join(tfjs, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      policy: { kind: string };
    };
    expect(manifest.policy.kind).toBe('fifo');
    const buffer = readFileSync(join(tfjs, 'weights.bin'));
    const decoded = tf.io.decodeWeights(
      buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength),
      manifest.weightsManifest[0]?.weights ?? [],
    );
    const reference = await readSafetensors(join(run, 'model', 'model.safetensors'));
    try {
      expect(Object.keys(decoded).sort()).toEqual(Object.keys(reference.tensors).sort());
      for (const [name, tensor] of Object.entries(reference.tensors)) {
        expect(Array.from(decoded[name]?.dataSync() ?? []), name).toEqual(Array.from(tensor.dataSync()));
      }
    } finally {
      tf.dispose([...Object.values(decoded), ...Object.values(reference.tensors)]);
    }
    await expect(exportCommand({ source: run, out: join(root, 'nope'), checkpoint: '12345', backend: 'wasm' }, io)).rejects.toThrow(
      /no valid checkpoint at that step; available: 3, latest, final/,
    );
  });

  it('resumes a run to more steps from its checkpoint and refuses config flags with --resume', async () => {
    const run = join(root, 'txl');
    const io = captureIo();
    const resumed = await trainCommand({ out: run, resume: true, resumeSteps: 4, progress: 'none', backend: 'wasm' }, io);
    expect(resumed.result.resumedFromStep).toBe(3);
    expect(resumed.result.step).toBe(4);
    await expect(trainCommand({ out: run, resume: true, kind: 'txl', progress: 'none' }, io)).rejects.toThrow(
      /--resume continues the saved configuration/,
    );
  });
});

describe('data commands', () => {
  const cache = join(root, 'cache');

  it('lists, "downloads", verifies and prepares the bundled book; train then reads the prepared tokens', async () => {
    const io = captureIo();
    dataListCommand({ cacheDir: cache }, io);
    expect(io.output()).toMatch(/moby-dick\s+Moby Dick .*\[bundled\]/);
    const sizes = await dataDownloadCommand({ corpus: 'moby-dick', cacheDir: cache }, io);
    expect(sizes.train).toBeGreaterThan(sizes.valid);
    const checks = await dataVerifyCommand({ corpus: 'moby-dick', cacheDir: cache }, io);
    expect(checks.map((check) => check.split)).toEqual(['train', 'valid', 'test']);
    expect(checks[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(checks[0]?.bytes).toBe(sizes.train);

    const directory = await dataPrepareCommand({ corpus: 'moby-dick', cacheDir: cache }, io);
    expect(readdirSync(directory).sort()).toEqual(['meta.json', 'test.i32', 'tokenizer.json', 'train.i32', 'valid.i32']);

    const run = join(root, 'prepared-run');
    const trainIo = captureIo();
    await trainCommand(
      {
        kind: 'txl',
        settings: [...tinySettings, 'training.steps=1', `data.cacheDirectory=${cache}`, 'data.tokenizer=character', 'memory.memoryLength=16'],
        out: run,
        progress: 'none',
        backend: 'wasm',
      },
      trainIo,
    );
    expect(trainIo.errors()).toContain('(prepared cache)');
  });

  it('prepares, trains and evaluates with a subword tokenizer, and with a given tokenizer.json; word-level perplexity from word counts', async () => {
    const text = (await loadBundledBook()).train.slice(0, 60_000);
    const corpusFile = join(root, 'subword-corpus.txt');
    writeFileSync(corpusFile, text);
    const io = captureIo();
    expect(await runCli(['data', 'prepare', 'local', '--path', corpusFile, '--tokenizer', 'subword', '--vocab-size', '300', '--cache-dir', cache], io)).toBe(0);
    expect(io.output()).toMatch(/local: subword tokenizer, 300 tokens; train [\d,]+/);
    const prepared = readdirSync(join(cache, 'prepared')).filter((entry) => entry.endsWith('-subword-300'));
    expect(prepared).toHaveLength(1);
    const preparedTokenizer = join(cache, 'prepared', prepared[0] as string, 'tokenizer.json');
    expect(JSON.parse(readFileSync(preparedTokenizer, 'utf8'))).toMatchObject({ model: { type: 'BPE' }, pre_tokenizer: { type: 'ByteLevel' } });

    const data = [`data.corpus=local`, `data.path=${corpusFile}`, `data.cacheDirectory=${cache}`];
    const run = join(root, 'subword-run');
    const trainIo = captureIo();
    await trainCommand(
      { kind: 'txl', settings: [...tinySettings, ...data, 'data.tokenizer=subword', 'data.subwordVocabSize=300', 'memory.memoryLength=16'], out: run, progress: 'none', backend: 'wasm' },
      trainIo,
    );
    expect(trainIo.errors()).toContain('subword tokenizer (300 tokens)');
    expect(trainIo.errors()).toContain('(prepared cache)');
    expect(readFileSync(join(run, 'tokenizer.json'), 'utf8')).toBe(readFileSync(preparedTokenizer, 'utf8'));

    const evaluation = await evalCommand({ model: run, tokens: 64, backend: 'wasm', json: true }, captureIo());
    const trained = await loadTrainedModel(run);
    try {
      const evaluated = trained.tokenizer.decode((await loadCorpusTokens(trained.document?.config.data ?? { corpus: 'moby-dick' }, { tokenizer: trained.tokenizer })).valid.subarray(0, 65));
      expect(evaluation.words).toBe(evaluated.split(/\s+/).filter(Boolean).length);
      expect(evaluation.words).toBeLessThan(evaluation.count);
      expect(evaluation.wordLevelPerplexity).toBeCloseTo(Math.exp(evaluation.nllSum / (evaluation.words ?? Number.NaN)), 6);
    } finally {
      trained.model.dispose();
    }

    // A Hugging Face tokenizer.json given by path is used as is (here the one prepared above).
    const fromFileIo = captureIo();
    await trainCommand(
      { kind: 'txl', settings: [...tinySettings, ...data, `data.tokenizer=${preparedTokenizer}`, 'training.steps=1', 'memory.memoryLength=16'], out: join(root, 'file-run'), progress: 'none', backend: 'wasm' },
      fromFileIo,
    );
    expect(fromFileIo.errors()).toContain('subword tokenizer (300 tokens)');
    expect(readFileSync(join(root, 'file-run', 'tokenizer.json'), 'utf8')).toBe(readFileSync(preparedTokenizer, 'utf8'));

    const bad = captureIo();
    expect(await runCli(['data', 'prepare', 'local', '--path', corpusFile, '--tokenizer', 'bpe', '--cache-dir', cache], bad)).toBe(2);
    expect(bad.errors()).toContain('--tokenizer must be byte, character, word, subword or a tokenizer.json path');
  });

  it('verify never downloads: a corpus missing from the cache fails with the command to run', async () => {
    const code = await runCli(['data', 'verify', 'enwik8', '--cache-dir', join(root, 'empty-cache')], captureIo());
    expect(code).toBe(1);
    const io = captureIo();
    await runCli(['data', 'verify', 'enwik8', '--cache-dir', join(root, 'empty-cache')], io);
    expect(io.errors()).toMatch(/^engram: corpus enwik8 is not \(completely\) in the cache .*: run "engram data download enwik8" first\n$/);
  });
});
