// Tests of weights I/O: safetensors encode/decode (incl. corrupt and truncated files), save/load round trip, memory state files.
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { MemoryState } from '@engram/memory';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SafetensorsError, WeightsError } from './errors.js';
import type { ModelConfig } from './config.js';
import { createModel, type MemoryTransformer } from './model.js';
import { loadMemoryState, loadModel, readSafetensors, saveMemoryState, saveModel, writeSafetensors } from './node.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { columns, randomTokens, tinyConfig } from './test-helpers.js';
import { policyConfigDifferences } from './load-checks.js';
import { CONFIG_FILE, decodeMemoryState, decodeModel, encodeMemoryState, encodeModel, WEIGHTS_FILE } from './weights.js';

let directory = '';
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'engram-model-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/**
 * Feeds 4 tokens per row (batch 2) from a fresh state, restores the state with `restore`, and expects the next 4 tokens
 * to give bit-identical logits `[2, 4, vocab]` from the original state and from the restored one; frees every tensor.
 */
async function expectRestoredStateContinues(model: MemoryTransformer, restore: (state: MemoryState) => MemoryState | Promise<MemoryState>): Promise<void> {
  const tokens = randomTokens(2, 8, 11, 12);
  const first = columns(tokens, 0, 4);
  const second = columns(tokens, 4, 8);
  const a = model.forward(first, model.initialState(2));
  const restored = await restore(a.state);
  const fromOriginal = model.forward(second, a.state);
  const fromRestored = model.forward(second, restored);
  expectClose(fromRestored.logits, fromOriginal.logits, { atol: 0, rtol: 0 });
  tf.dispose([first, second, a.logits, fromOriginal.logits, fromRestored.logits]);
  disposeState(fromOriginal.state);
  disposeState(fromRestored.state);
}

/** Builds a safetensors byte array by hand: header JSON (unpadded) then the data bytes. */
function handMade(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  test('round trip of float32, int32 and bool tensors with metadata; layout follows the format', () => {
    const tensors = {
      'b.weight': tf.tensor2d([
        [1.5, -2],
        [3.25, 4],
      ]),
      'a.positions': tf.tensor1d([7, -8, 9], 'int32'),
      flags: tf.tensor1d([true, false], 'bool'),
      scalar: tf.scalar(0.5),
    };
    const bytes = encodeSafetensors(tensors, { format: 'test' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header.__metadata__).toEqual({ format: 'test' });
    expect(header['a.positions']).toEqual({ dtype: 'I32', shape: [3], data_offsets: [0, 12] });
    expect(header['b.weight']).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [12, 28] });
    // Raw little-endian data: the first float of b.weight is 1.5.
    expect(new DataView(bytes.buffer).getFloat32(8 + headerLength + 12, true)).toBe(1.5);
    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({ format: 'test' });
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(decoded.tensors[name]?.dtype).toBe(tensor.dtype);
      expect(decoded.tensors[name]?.shape).toEqual(tensor.shape);
      expect(decoded.tensors[name]?.arraySync()).toEqual(tensor.arraySync());
    }
    tf.dispose([...Object.values(tensors), ...Object.values(decoded.tensors)]);
  });

  test('reads F16, BF16, F64, I64 and U8 written by other tools', () => {
    const data = new Uint8Array(2 * 2 + 2 * 2 + 8 + 8 + 2);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3c00, true); // F16 1.0
    view.setUint16(2, 0xc000, true); // F16 -2.0
    view.setUint16(4, 0x3fc0, true); // BF16 1.5
    view.setUint16(6, 0x4040, true); // BF16 3.0
    view.setFloat64(8, 0.25, true);
    view.setBigInt64(16, -5n, true);
    view.setUint8(24, 200);
    view.setUint8(25, 1);
    const bytes = handMade(
      {
        half: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
        brain: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] },
        double: { dtype: 'F64', shape: [], data_offsets: [8, 16] },
        long: { dtype: 'I64', shape: [1], data_offsets: [16, 24] },
        bytes: { dtype: 'U8', shape: [2], data_offsets: [24, 26] },
      },
      data,
    );
    const { tensors } = decodeSafetensors(bytes);
    expect(tensors.half?.arraySync()).toEqual([1, -2]);
    expect(tensors.brain?.arraySync()).toEqual([1.5, 3]);
    expect(tensors.double?.arraySync()).toBe(0.25);
    expect(tensors.long?.arraySync()).toEqual([-5]);
    expect(tensors.long?.dtype).toBe('int32');
    expect(tensors.bytes?.arraySync()).toEqual([200, 1]);
    tf.dispose(Object.values(tensors));
  });

  test('corrupt and truncated files fail with a clear SafetensorsError', () => {
    const good = encodeSafetensors({ w: tf.tidy(() => tf.ones([4])) });
    const before = tf.memory().numTensors;
    expect(() => decodeSafetensors(good.subarray(0, 5))).toThrow(/truncated/);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 3))).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(good.subarray(0, 20))).toThrow(/header claims/);
    const hugeHeader = good.slice();
    new DataView(hugeHeader.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(() => decodeSafetensors(hugeHeader)).toThrow(/header length/);
    const garbled = good.slice();
    garbled[9] = 0x7b; // '{' twice: invalid JSON
    garbled[8] = 0x7b;
    expect(() => decodeSafetensors(garbled)).toThrow(/not valid UTF-8 JSON/);
    const floats = new Uint8Array(16);
    expect(() => decodeSafetensors(handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, floats))).toThrow(/needs 12/);
    expect(() => decodeSafetensors(handMade({ w: { dtype: 'Q4', shape: [4], data_offsets: [0, 16] } }, floats))).toThrow(/dtype "Q4"/);
    expect(() =>
      decodeSafetensors(
        handMade(
          { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
          floats,
        ),
      ),
    ).toThrow(/without gaps or overlaps/);
    expect(() => decodeSafetensors(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, floats))).toThrow(/trailing bytes/);
    expect(() => decodeSafetensors(handMade({ __metadata__: { n: 3 } }, new Uint8Array(0)))).toThrow(/must be a string/);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('files are written atomically and read back; errors name the file', async () => {
    const path = join(directory, 'atomic.safetensors');
    const tensor = tf.tensor1d([1, 2, 3]);
    await writeSafetensors(path, { x: tensor }, { note: 'hi' });
    expect((await readdir(directory)).filter((name) => name.includes('.tmp'))).toEqual([]);
    const read = await readSafetensors(path);
    expect(read.tensors.x?.arraySync()).toEqual([1, 2, 3]);
    expect(read.metadata).toEqual({ note: 'hi' });
    tf.dispose([tensor, ...Object.values(read.tensors)]);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 1));
    await expect(readSafetensors(path)).rejects.toThrow(/atomic\.safetensors/);
    await expect(readSafetensors(join(directory, 'missing.safetensors'))).rejects.toThrow(SafetensorsError);
  });
});

function logitsOf(model: MemoryTransformer, tokens: number[][]): number[] {
  let state = model.initialState(tokens.length);
  const values: number[] = [];
  for (let start = 0; start < 8; start += 4) {
    const inputs = columns(tokens, start, start + 4);
    const result = model.forward(inputs, state);
    values.push(...result.logits.dataSync());
    tf.dispose([inputs, result.logits]);
    state = result.state;
  }
  disposeState(state);
  return values;
}

describe('saveModel / loadModel', () => {
  test.each([
    ['pre-norm, untied', {} as Partial<ModelConfig>],
    ['post-norm, tied, per-layer biases, gelu', { norm: 'post', tieEmbeddings: true, perLayerPositionBiases: true, activation: 'gelu' } as Partial<ModelConfig>],
  ])('round trip gives identical logits (%s)', async (_, overrides) => {
    const model = createModel(tinyConfig({ ...overrides, seed: 42 }), { policy: createFifoPolicy({ memoryLength: 4, evalMemoryLength: 6 }) });
    // Train a little so the weights are not the seeded initial values.
    const tokens = randomTokens(2, 9, 11, 5);
    const optimizer = tf.train.adam(1e-2);
    const step = model.trainStep({ inputs: columns(tokens, 0, 4), targets: columns(tokens, 1, 5) }, model.initialState(2), { optimizer });
    disposeState(step.state);
    const target = join(directory, `model-${overrides.norm ?? 'pre'}`);
    await saveModel(model, target);
    const config = JSON.parse(await readFile(join(target, CONFIG_FILE), 'utf8'));
    expect(config.format).toBe('engram-model');
    expect(config.policy).toEqual({ kind: 'fifo', specificationVersion: 'v1', config: { kind: 'fifo', memoryLength: 4, evalMemoryLength: 6 } });
    expect(config.model.norm).toBe(overrides.norm ?? 'pre');
    expect(Object.keys(config.tensors)).toEqual(Object.keys(model.namedVariables()));
    const loaded = await loadModel(target);
    expect(loaded.config).toEqual(model.config);
    expect(loaded.policy.config()).toEqual(model.policy.config());
    expectClose(logitsOf(loaded, tokens), logitsOf(model, tokens), { atol: 0, rtol: 0 });
    loaded.dispose();
    model.dispose();
    optimizer.dispose();
  });

  test('the file is plain safetensors with the documented names and shapes', async () => {
    const model = createModel(tinyConfig());
    const target = join(directory, 'plain');
    await saveModel(model, target);
    const { tensors, metadata } = decodeSafetensors(await readFile(join(target, WEIGHTS_FILE)));
    expect(metadata.format).toBe('engram-model');
    expect(tensors['embedding.weight']?.shape).toEqual([11, 16]);
    expect(tensors['layers.1.attention.position.weight']?.shape).toEqual([16, 16]);
    expect(tensors['layers.0.feed_forward.inner.weight']?.shape).toEqual([16, 24]);
    expect(tensors['output.weight']?.shape).toEqual([16, 11]);
    expect(tensors['attention.u_bias']?.shape).toEqual([2, 8]);
    expectClose(tensors['embedding.weight']!, model.namedVariables()['embedding.weight']!, { atol: 0, rtol: 0 });
    tf.dispose(Object.values(tensors));
    model.dispose();
  });

  test('mismatches fail clearly: wrong policy, unknown policy, missing directory, mismatched weights', async () => {
    const model = createModel(tinyConfig());
    const target = join(directory, 'mismatch');
    await saveModel(model, target);
    const wrongPolicy = { ...createFifoPolicy({ memoryLength: 4 }), kind: 'compressive' };
    await expect(loadModel(target, { policy: wrongPolicy })).rejects.toThrow(/"fifo" policy/);
    await expect(loadModel(join(directory, 'nowhere'))).rejects.toThrow(WeightsError);
    const config = JSON.parse(await readFile(join(target, CONFIG_FILE), 'utf8'));
    await writeFile(join(target, CONFIG_FILE), JSON.stringify({ ...config, policy: { ...config.policy, kind: 'expire-span' } }));
    await expect(loadModel(target)).rejects.toThrow(/pass it as loadModel/);
    await writeFile(join(target, CONFIG_FILE), JSON.stringify({ ...config, model: { ...config.model, feedForwardDim: 20 } }));
    const before = tf.memory().numTensors;
    await expect(loadModel(target)).rejects.toThrow(/\[16, 24\] in the file but \[16, 20\]/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('load-time checks', () => {
  test('weights holding NaN or Infinity are refused naming the file and the tensor; nothing leaks', async () => {
    const model = createModel(tinyConfig());
    const target = join(directory, 'non-finite');
    await saveModel(model, target);
    const file = join(target, WEIGHTS_FILE);
    const { tensors } = decodeSafetensors(await readFile(file));
    const values = tensors['layers.1.attention.position.weight']!.dataSync().slice();
    values[5] = Number.NaN;
    values[7] = Number.POSITIVE_INFINITY;
    const bad = tf.tensor(values, tensors['layers.1.attention.position.weight']!.shape);
    await writeSafetensors(file, { ...tensors, 'layers.1.attention.position.weight': bad });
    tf.dispose([...Object.values(tensors), bad]);
    const before = tf.memory().numTensors;
    const error = await loadModel(target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as Error).message).toBe(
      `loadModel: "layers.1.attention.position.weight" in "${file}" holds 2 non-finite values (NaN at flat index 5 of [16, 16]): ` +
        'the weights were saved after training diverged or the file is damaged; load an earlier checkpoint or retrain.',
    );
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('a policy whose options differ from the saved ones is refused with the fields, or reported to onPolicyDifference', async () => {
    const model = createModel(tinyConfig(), { policy: createFifoPolicy({ memoryLength: 4, evalMemoryLength: 6 }) });
    const target = join(directory, 'policy-options');
    await saveModel(model, target);
    await expect(loadModel(target, { policy: createFifoPolicy({ memoryLength: 8, evalMemoryLength: 6 }) })).rejects.toThrow(
      /options\.policy differs from the policy saved in ".*config\.json" \(memoryLength: saved 4, given 8\); build it with/,
    );
    await expect(loadModel(target, { policy: createFifoPolicy({ memoryLength: 4 }) })).rejects.toThrow(
      /\(evalMemoryLength: saved 6, given 4\)/,
    );
    const seen: string[][] = [];
    const loaded = await loadModel(target, {
      policy: createFifoPolicy({ memoryLength: 4, evalMemoryLength: 12 }),
      onPolicyDifference: (differences) => seen.push(differences),
    });
    expect(seen).toEqual([['evalMemoryLength: saved 6, given 12']]);
    expect(loaded.policy.config()).toMatchObject({ evalMemoryLength: 12 });
    const same = await loadModel(target, { policy: createFifoPolicy({ memoryLength: 4, evalMemoryLength: 6 }) });
    same.dispose();
    loaded.dispose();
    model.dispose();
  });

  test('policyConfigDifferences walks nested fields and ignores nulls', () => {
    expect(policyConfigDifferences({ a: 1, c: { rate: 2, seed: null } }, { a: 1, c: { rate: 3 } })).toEqual(['c.rate: saved 2, given 3']);
    expect(policyConfigDifferences({ a: [1, 2] }, { a: [1, 2], b: 'x' })).toEqual(['b: saved nothing, given "x"']);
    expect(policyConfigDifferences({ a: 1 }, { a: 1 })).toEqual([]);
  });
});

describe('memory state files', () => {
  test('saveMemoryState / loadMemoryState round trip continues the stream identically', async () => {
    const model = createModel(tinyConfig());
    const path = join(directory, 'memory.safetensors');
    await expectRestoredStateContinues(model, async (state) => {
      await saveMemoryState(model.policy, state, path);
      const restored = await loadMemoryState(model.policy, path);
      expect(restored.tokensSeen).toBe(4);
      return restored;
    });
    await writeSafetensors(path, {});
    await expect(loadMemoryState(model.policy, path)).rejects.toThrow(/saveMemoryState/);
    model.dispose();
  });
});

describe('models and memory states as bytes (no file system)', () => {
  test('encodeModel / decodeModel round trip gives identical logits and the same bytes saveModel writes', async () => {
    const model = createModel(tinyConfig({ seed: 7 }), { policy: createFifoPolicy({ memoryLength: 4 }) });
    const tokens = randomTokens(2, 9, 11, 3);
    const files = encodeModel(model);
    const target = join(directory, 'bytes');
    await saveModel(model, target);
    expect(new Uint8Array(await readFile(join(target, WEIGHTS_FILE)))).toEqual(files.weights);
    expect(await readFile(join(target, CONFIG_FILE), 'utf8')).toBe(files.config);
    const before = tf.memory().numTensors;
    const decoded = decodeModel(files);
    expectClose(logitsOf(decoded, tokens), logitsOf(model, tokens), { atol: 0, rtol: 0 });
    decoded.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('decodeModel names the source of bad bytes and leaks nothing', () => {
    const model = createModel(tinyConfig());
    const files = encodeModel(model);
    const before = tf.memory().numTensors;
    expect(() => decodeModel({ config: '{', weights: files.weights }, { source: 'https://example.test/m' })).toThrow(
      /https:\/\/example\.test\/m\/config\.json" is not valid JSON/,
    );
    expect(() => decodeModel({ config: files.config, weights: files.weights.subarray(0, 100) }, { source: 'dropped files' })).toThrow(
      /dropped files\/model\.safetensors/,
    );
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('encodeMemoryState / decodeMemoryState continue the stream identically', async () => {
    const model = createModel(tinyConfig());
    await expectRestoredStateContinues(model, (state) => decodeMemoryState(model.policy, encodeMemoryState(model.policy, state)));
    expect(() => decodeMemoryState(model.policy, encodeSafetensors({}), 'state.bin')).toThrow(/"state\.bin" has no "engram\.memoryState"/);
    model.dispose();
  });
});
