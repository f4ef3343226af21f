// Nothing lost, ever: every refusal of the commands exits non-zero with one clear line, leaves the files that were there byte-identical and no temporary file behind.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, writeSafetensors } from '@engram/model/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainCommand } from './commands/train.js';
import { withDirectoryLock } from './files.js';
import { captureIo } from './io.js';
import { runCli } from './program.js';
import { temporaryRoot } from './test-support.js';

const root = temporaryRoot('engram-cli-safety-');

const tiny = [
  '--set', 'model.modelDim=16',
  '--set', 'model.numHeads=2',
  '--set', 'model.numLayers=1',
  '--set', 'model.feedForwardDim=32',
  '--set', 'model.segmentLength=8',
  '--set', 'memory.memoryLength=8',
  '--set', 'training.warmupSteps=1',
  '--set', 'training.evalTokens=32',
  '--batch-size', '2',
  '--backend', 'wasm',
  '--progress', 'none',
];

async function engram(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.output(), err: io.errors() };
}

/** Every file under `folder` (relative path -> SHA-256 of its bytes), folders as `dir`. */
function snapshot(folder: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (directory: string, prefix: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      const name = `${prefix}${entry.name}`;
      if (entry.isDirectory()) {
        result[`${name}/`] = 'dir';
        walk(path, `${name}/`);
      } else if (!entry.isFile()) {
        result[name] = 'special'; // a FIFO or device: never read
      } else {
        result[name] = createHash('sha256').update(readFileSync(path)).digest('hex');
      }
    }
  };
  walk(folder, '');
  return result;
}

/** Names of temporary files, folders and locks anywhere under `folder`. */
function leftovers(folder: string): string[] {
  return Object.keys(snapshot(folder)).filter((name) => /engram-tmp|engram-lock|\.tmp$|\.partial|\.replaced|\.export-/.test(name));
}

/** Expects exactly one error line on stderr (after any `backend:`, `data:`, `model:` progress lines), matching `message`. */
function expectOneLine(err: string, message: RegExp): void {
  const lines = err.trimEnd().split('\n').filter((line) => !/^(backend|data|model): /.test(line));
  expect(lines, err).toHaveLength(1);
  expect(lines[0]?.startsWith('engram: '), err).toBe(true);
  expect(`${lines[0]}\n`).toMatch(message);
}

let run = '';
beforeAll(async () => {
  run = join(root, 'run');
  const trained = await engram('train', '--out', run, '--steps', '2', ...tiny);
  expect(trained.code, trained.err).toBe(0);
});

/** A fresh copy of the trained run to break in one test. */
function copyOfRun(name: string): string {
  const copy = join(root, name);
  cpSync(run, copy, { recursive: true });
  return copy;
}

describe('data loss is impossible', () => {
  it('export refuses a non-empty --out, replaces it whole with --overwrite, and never its own source', async () => {
    const out = join(root, 'export-target');
    mkdirSync(out);
    writeFileSync(join(out, 'another-model.safetensors'), 'precious');
    const before = snapshot(root);
    const refused = await engram('export', run, '--out', out, '--backend', 'wasm');
    expect(refused.code).toBe(2);
    expectOneLine(refused.err, /^engram: --out .*export-target already holds files \(another-model\.safetensors\): choose an empty or new directory, or add --overwrite to replace it\n$/);
    expect(snapshot(root)).toEqual(before);

    const same = await engram('export', run, '--out', run, '--overwrite', '--backend', 'wasm');
    expect(same.code).toBe(2);
    expect(same.err).toMatch(/is or contains the source/);
    expect(snapshot(root)).toEqual(before);

    const replaced = await engram('export', run, '--out', out, '--overwrite', '--backend', 'wasm');
    expect(replaced.code, replaced.err).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'config.json', 'engram.json', 'model.safetensors', 'tokenizer.json']);
    expect(leftovers(root)).toEqual([]);
  });

  it('train refuses an existing run without --resume or --force, and --force replaces it only once the new run is done', async () => {
    const copy = copyOfRun('existing');
    const before = snapshot(copy);
    const refused = await engram('train', '--out', copy, '--steps', '3', ...tiny);
    expect(refused.code).toBe(2);
    expectOneLine(refused.err, /^engram: --out .*existing already holds files \(([\w.-]+\/?, ){5}\.\.\. \(\d+ entries\)\): continue that run with --resume, choose a new --out, or add --force to replace it\n$/);
    expect(snapshot(copy)).toEqual(before);

    // A --force run that fails its checks changes nothing either.
    const tooBig = await engram('train', '--out', copy, '--force', ...tiny, '--set', 'model.segmentLength=65536', '--set', 'memory.memoryLength=65536');
    expect(tooBig.code).toBe(2);
    expect(snapshot(copy)).toEqual(before);

    const forced = await engram('train', '--out', copy, '--force', '--steps', '1', ...tiny);
    expect(forced.code, forced.err).toBe(0);
    expect(readdirSync(join(copy, 'checkpoints'))).toEqual(['step-00000001']);
    expect(JSON.parse(readFileSync(join(copy, 'model', 'engram.json'), 'utf8')).steps).toBe(1);
    expect(leftovers(root)).toEqual([]);
  });

  it('--resume refuses a run with no checkpoint, with only unusable ones, or already finished, and changes nothing', async () => {
    const none = copyOfRun('no-checkpoints');
    rmSync(join(none, 'checkpoints'), { recursive: true });
    let before = snapshot(none);
    const empty = await engram('train', '--out', none, '--resume', '--steps', '4', '--backend', 'wasm', '--progress', 'none');
    expect(empty.code).toBe(1);
    expectOneLine(empty.err, /^engram: cannot resume .*no-checkpoints: it holds no checkpoint; start a fresh run with another --out \(or --force to replace this one\)\n$/);
    expect(snapshot(none)).toEqual(before);

    const broken = copyOfRun('broken-checkpoints');
    writeFileSync(join(broken, 'checkpoints', 'step-00000002', 'manifest.json'), '{"format":');
    before = snapshot(broken);
    const unusable = await engram('train', '--out', broken, '--resume', '--steps', '4', '--backend', 'wasm', '--progress', 'none');
    expect(unusable.code).toBe(1);
    expectOneLine(unusable.err, /holds no usable checkpoint \(step 2: .*manifest\.json is not valid JSON\)/);
    expect(snapshot(broken)).toEqual(before);

    const finished = copyOfRun('finished');
    before = snapshot(finished);
    const done = await engram('train', '--out', finished, '--resume', '--backend', 'wasm', '--progress', 'none');
    expect(done.code).toBe(2);
    expectOneLine(done.err, /^engram: .*finished has already trained 2 steps \(the run asks for 2\): give --steps N with N > 2 to train further; nothing was changed\n$/);
    expect(snapshot(finished)).toEqual(before);
    expect(JSON.parse(readFileSync(join(finished, 'model', 'engram.json'), 'utf8')).validationBitsPerToken).toBeGreaterThan(0);
    expect(leftovers(root)).toEqual([]);
  });

  it('a run directory is locked while a command writes into it: a second command fails at once and changes nothing', async () => {
    const copy = copyOfRun('locked');
    const before = snapshot(copy);
    const second = await withDirectoryLock(copy, () => engram('train', '--out', copy, '--resume', '--steps', '3', '--backend', 'wasm', '--progress', 'none'));
    expect(second.code).toBe(1);
    expectOneLine(second.err, /^engram: .*locked is in use by another engram command \(lock .*\.locked\.engram-lock\): wait for it to finish \(the lock of a killed command expires 10 s after it died\), or use another directory\n$/);
    expect(snapshot(copy)).toEqual(before);

    // Two real train commands into one fresh directory at the same time: one runs, the other is refused.
    const fresh = join(root, 'contended');
    const settings = ['model.modelDim=16', 'model.numHeads=2', 'model.numLayers=1', 'model.feedForwardDim=32', 'model.segmentLength=8', 'memory.memoryLength=8', 'training.steps=1', 'training.batchSize=2', 'training.evalTokens=32'];
    const attempt = () => trainCommand({ settings, out: fresh, progress: 'none', backend: 'wasm' }, captureIo()).then(() => 'ok', (error: Error) => error.message);
    const outcomes = await Promise.all([attempt(), attempt()]);
    expect(outcomes.filter((outcome) => outcome === 'ok')).toHaveLength(1);
    expect(outcomes.find((outcome) => outcome !== 'ok')).toMatch(/in use by another engram command|already holds files/);
    expect(leftovers(root)).toEqual([]);
  });

  it('data prepare swaps the new cache in: the old one is never deleted first and nothing temporary stays', async () => {
    const cache = join(root, 'prepare-cache');
    const first = await engram('data', 'prepare', 'moby-dick', '--cache-dir', cache);
    expect(first.code, first.err).toBe(0);
    const prepared = join(cache, 'prepared', 'moby-dick-character');
    const before = snapshot(prepared);
    const second = await engram('data', 'prepare', 'moby-dick', '--cache-dir', cache);
    expect(second.code, second.err).toBe(0);
    expect(snapshot(prepared)).toEqual(before);
    expect(leftovers(cache)).toEqual([]);
    // A damaged cache is refused naming its file, not silently read.
    writeFileSync(join(prepared, 'meta.json'), '{"format": "engram-prepared-tokens",');
    const reading = await engram('train', '--out', join(root, 'from-damaged'), ...tiny, '--steps', '1', '--set', `data.cacheDirectory=${cache}`, '--set', 'data.tokenizer=character');
    expect(reading.code).toBe(1);
    expectOneLine(reading.err, /meta\.json is not valid JSON .*: run "engram data prepare" again/);
    expect(existsSync(join(root, 'from-damaged'))).toBe(false);
  });
});

describe('bad inputs get one clear line', () => {
  it('sizes that cannot fit are refused before anything is allocated, with the estimate and the limit', async () => {
    const out = join(root, 'too-big');
    const before = tf.memory().numBytes;
    const heap = await engram('train', '--out', out, ...tiny, '--set', 'model.segmentLength=8192', '--set', 'memory.memoryLength=8192', '--batch-size', '64');
    expect(heap.code).toBe(2);
    expectOneLine(heap.err, /^engram: one training step of this configuration \(batch 64, segment 8192\) needs about [\d.]+ GiB \(weights .*, activations [\d.]+ GiB\), more than the wasm heap's 4\.00 GiB .*: lower training\.batchSize \(--batch-size\).*--backend tensorflow/);
    const machine = await engram('train', '--out', out, ...tiny, '--backend', 'cpu', '--set', 'model.segmentLength=65536', '--set', 'memory.memoryLength=65536', '--batch-size', '512');
    expect(machine.code).toBe(2);
    expectOneLine(machine.err, /needs about [\d.]+ GiB .*, more than this machine's [\d.]+ GiB of memory: lower training\.batchSize/);
    expect(existsSync(out)).toBe(false);
    expect(tf.memory().numBytes).toBe(before);

    const evaluation = await engram('eval', run, '--batch-size', '100000000', '--backend', 'wasm');
    expect(evaluation.code).toBe(2);
    expectOneLine(evaluation.err, /^engram: evaluation \(batch 100000000\) needs about .* more than the wasm heap's .*: lower --batch-size/);

    // A model whose config.json describes weights too large: generate and inspect refuse before reading them.
    const huge = copyOfRun('huge-model');
    const configPath = join(huge, 'model', 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.tensors['embedding.weight'] = [1_000_000, 4096];
    writeFileSync(configPath, JSON.stringify(config));
    const before2 = snapshot(huge);
    for (const command of [['generate', huge, '--prompt', 'a'], ['inspect', huge, '--out', join(huge, 'x.svg')]]) {
      const result = await engram(...command, '--backend', 'wasm');
      expect(result.code, command[0]).toBe(2);
      expectOneLine(result.err, /needs about 15\.\d\d GiB \(weights 15\.\d\d GiB.*more than the wasm heap's 4\.00 GiB/);
    }
    expect(snapshot(huge)).toEqual(before2);
  });

  it('weights holding NaN are refused at load time naming the file and the tensor', async () => {
    const copy = copyOfRun('nan-weights');
    const file = join(copy, 'model', 'model.safetensors');
    const { tensors, metadata } = await readSafetensors(file);
    const values = tensors['output.weight']!.dataSync().slice();
    values[3] = Number.NaN;
    const bad = tf.tensor(values, tensors['output.weight']!.shape);
    await writeSafetensors(file, { ...tensors, 'output.weight': bad }, metadata);
    tf.dispose([...Object.values(tensors), bad]);
    const before = snapshot(copy);
    const result = await engram('eval', copy, '--backend', 'wasm');
    expect(result.code).toBe(1);
    expectOneLine(result.err, /^engram: WeightsError: loadModel: "output\.weight" in ".*nan-weights\/model\/model\.safetensors" holds 1 non-finite value \(NaN at flat index 3 of/);
    expect(snapshot(copy)).toEqual(before);
  });

  it('a diverging run reaches the non-finite stop even when an evaluation meets it first, with advice in flags', async () => {
    const out = join(root, 'diverged');
    const result = await engram('train', '--out', out, ...tiny, '--steps', '10', '--learning-rate', '1e30', '--set', 'training.evalEvery=1', '--set', 'training.warmupSteps=0');
    expect(result.code).toBe(1);
    expectOneLine(result.err, /^engram: training stopped at step 1: the validation loss is not finite: the weights diverged\. Start a new run with a lower --learning-rate or a longer warm-up \(--set training\.warmupSteps=N\), or check the corpus; .*diverged keeps the log and the checkpoints written before the stop\n$/);
    const log = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { type: string; reason?: string });
    expect(log.at(-1)).toMatchObject({ type: 'end', reason: 'non-finite' });
    expect(existsSync(join(out, 'model'))).toBe(false);
    expect(leftovers(root)).toEqual([]);
  });

  it('files that are not regular files are refused before reading', async () => {
    const fifo = join(root, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    const inspect = await engram('inspect', run, '--text', fifo, '--out', join(root, 'never.svg'), '--backend', 'wasm');
    expect(inspect.code).toBe(1);
    expectOneLine(inspect.err, /^engram: .*a-fifo is a FIFO \(named pipe\), not a file: give the text to read \(--text\) as a regular file\n$/);
    expect(existsSync(join(root, 'never.svg'))).toBe(false);
    rmSync(fifo);

    const device = await engram('config', '--config', '/dev/zero');
    expect(device.code).toBe(2);
    expectOneLine(device.err, /^engram: config file \/dev\/zero: is not a regular file \(a device or a pipe\?\)/);
    const folder = await engram('config', '--config', root);
    expect(folder.code).toBe(2);
    expectOneLine(folder.err, /is a directory: give a \.json, \.yaml or \.yml file/);

    const copy = copyOfRun('tokenizer-folder');
    rmSync(join(copy, 'model', 'tokenizer.json'));
    mkdirSync(join(copy, 'model', 'tokenizer.json'));
    const tokenizer = await engram('generate', copy, '--prompt', 'a', '--backend', 'wasm');
    expect(tokenizer.code).toBe(1);
    expectOneLine(tokenizer.err, /model\/tokenizer\.json is a directory, not a file/);

    const local = await engram('train', '--out', join(root, 'local-device'), ...tiny, '--corpus', 'local', '--path', '/dev/zero');
    expect(local.code).toBe(1);
    expectOneLine(local.err, /\/dev\/zero is a device, not a file: give the local corpus \(--path\) as a regular file/);
    expect(existsSync(join(root, 'local-device'))).toBe(false);
  });

  it('parse errors name the file they came from and the fix', async () => {
    const documentRun = copyOfRun('bad-engram-json');
    writeFileSync(join(documentRun, 'model', 'engram.json'), '{ not json');
    let before = snapshot(documentRun);
    const document = await engram('generate', documentRun, '--prompt', 'a', '--backend', 'wasm');
    expect(document.code).toBe(1);
    expectOneLine(document.err, /bad-engram-json\/model\/engram\.json is not valid JSON \(.*\): restore it from the run, or delete it/);
    expect(snapshot(documentRun)).toEqual(before);

    const yamlRun = copyOfRun('bad-config-yaml');
    writeFileSync(join(yamlRun, 'config.yaml'), 'model: [unclosed');
    before = snapshot(yamlRun);
    const yaml = await engram('train', '--out', yamlRun, '--resume', '--steps', '3', '--backend', 'wasm');
    expect(yaml.code).toBe(2);
    expectOneLine(yaml.err, /^engram: config file .*bad-config-yaml\/config\.yaml: is not valid YAML .*: restore it, or start a fresh run\n$/);
    expect(snapshot(yamlRun)).toEqual(before);

    const tokenizerRun = copyOfRun('bad-tokenizer');
    writeFileSync(join(tokenizerRun, 'model', 'tokenizer.json'), '[1, 2');
    const tokenizer = await engram('eval', tokenizerRun, '--backend', 'wasm');
    expect(tokenizer.code).toBe(1);
    expectOneLine(tokenizer.err, /bad-tokenizer\/model\/tokenizer\.json/);

    const modelRun = copyOfRun('bad-config-json');
    writeFileSync(join(modelRun, 'model', 'config.json'), '{');
    const model = await engram('eval', modelRun, '--backend', 'wasm');
    expect(model.code).toBe(1);
    expectOneLine(model.err, /bad-config-json\/model\/config\.json" is not valid JSON/);
  });

  it('file-system errors name the path the user gave and what to do', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const under = await engram('train', '--out', join(file, 'run'), ...tiny);
    expect(under.code).toBe(1);
    expectOneLine(under.err, /^engram: cannot use --out as a run directory \(.*a-file\/run\): a part of the path is a file, not a folder: check the path \[ENOTDIR\]\n$/);
    const onFile = await engram('export', run, '--out', file, '--backend', 'wasm');
    expect(onFile.code).toBe(2);
    expectOneLine(onFile.err, /--out .*a-file is a file: choose a directory for the export/);
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect(statSync(file).isFile()).toBe(true);
  });

  it('a prompt with characters outside the vocabulary warns how many became unknown', async () => {
    const result = await engram('generate', run, '--prompt', 'Call me §§ ☃', '--max-new-tokens', '2', '--backend', 'wasm');
    expect(result.code, result.err).toBe(0);
    expect(result.err).toMatch(/warning: 3 of the prompt's 12 characters are not in the model's vocabulary and became <unk>/);
    const clean = await engram('generate', run, '--prompt', 'Call me', '--max-new-tokens', '2', '--backend', 'wasm');
    expect(clean.err).not.toMatch(/warning/);
  });
});

describe('after every refusal above', () => {
  it('no temporary file, staging folder or lock is left anywhere', () => {
    expect(leftovers(root)).toEqual([]);
    expect(readdirSync(root).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});
