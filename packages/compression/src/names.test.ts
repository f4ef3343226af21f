// Stable variable names across processes (`<unique scope>/<stable name>`): save/load between differently populated processes, the README's saved-name table, and seeds from the model.
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { MemoryState, ModelDimensions } from '@engram/memory';
import { createModel, WEIGHTS_FILE } from '@engram/model';
import { loadModel, readModelConfig, readSafetensors, saveModel } from '@engram/model/node';
import type { MemoryTransformer } from '@engram/model';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createConvCompressor, createDilatedConvCompressor, createMaxPoolCompressor } from './builtins.js';
import type { Compressor } from './compressor.js';
import { createCompressivePolicyFromConfig } from './from-config.js';
import type { CompressionTraining } from './losses.js';
import { createCompressivePolicy } from './policy.js';
import type { CompressivePolicy } from './policy-contract.js';
import { TEST_MODEL_CONFIG } from './test-support.js';

const config = TEST_MODEL_CONFIG;

/** Deterministic tokens `[2, T]` of segment `step`. */
function tokens(step: number): tf.Tensor2D {
  const rows = [0, 1].map((row) =>
    Array.from({ length: config.segmentLength }, (_, t) => (step * 7 + row * 3 + t * 5) % config.vocabSize),
  );
  return tf.tensor2d(rows, undefined, 'int32');
}

/** Logits of segment `steps` after `steps` segments of memory (compressed memory in play from the third). */
function logitsAfter(model: MemoryTransformer, steps: number): Float32Array {
  let state: MemoryState = model.initialState(2);
  for (let step = 0; step < steps; step++) {
    const inputs = tokens(step);
    const result = model.forward(inputs, state, { training: true });
    tf.dispose([inputs, result.logits]);
    state = result.state;
  }
  const inputs = tokens(steps);
  const result = model.forward(inputs, state);
  const values = result.logits.dataSync().slice() as Float32Array;
  tf.dispose([inputs, result.logits]);
  disposeState(result.state);
  return values;
}

/** Moves every variable away from its initial value, so a load that assigns nothing cannot pass. */
function perturb(model: MemoryTransformer, seed: number): void {
  Object.values(model.namedVariables()).forEach((variable, index) => {
    tf.tidy(() => variable.assign(tf.add(variable, tf.randomUniform(variable.shape, -0.3, 0.3, 'float32', seed + index))));
  });
}

function compressivePolicy(compressor: Compressor, training: CompressionTraining, seed?: number): CompressivePolicy {
  return createCompressivePolicy({
    memoryLength: 4,
    compressedLength: 2,
    compressor,
    training,
    ...(seed === undefined ? {} : { seed }),
  });
}

function policyVariableNames(model: MemoryTransformer): string[] {
  return [...model.policy.variables(), ...model.policy.separateVariables()].map((variable) => variable.name);
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'engram-compression-names-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

function keep<T extends { dispose(): void }>(disposable: T): T {
  cleanups.push(() => disposable.dispose());
  return disposable;
}

describe('saved names do not depend on what the process created before', () => {
  it('a model saved after another loads into a fresh model created after several others: identical logits', async () => {
    const directory = await temporaryDirectory();
    const makePolicy = () => compressivePolicy(createConvCompressor({ rate: 2 }), 'auto-encoding');
    keep(createModel(config, { policy: makePolicy() }));
    const saved = keep(createModel(config, { policy: makePolicy() }));
    perturb(saved, 11);
    const expected = logitsAfter(saved, 4);
    await saveModel(saved, directory);

    // The next scopes a plain counter would hand out are taken, as another copy of this package in the same
    // process (or any library) would do; then several more models and policies.
    const savedScope = /^compressive(\d+)\//.exec(policyVariableNames(saved)[0] ?? '');
    expect(savedScope).not.toBeNull();
    const next = Number(savedScope?.[1]) + 1;
    for (let offset = 0; offset < 6; offset++) {
      for (const stable of ['compressor.layers.0.weight', 'decoder.layers.0.weight', 'compressor.layers.1.bias']) {
        keep(tf.variable(tf.zeros([1]), true, `compressive${next + offset}/${stable}`));
      }
    }
    keep(createModel(config, { policy: makePolicy() }));
    keep(createModel(config, { policy: createFifoPolicy({ memoryLength: 4 }) }));
    keep(createModel(config, { policy: compressivePolicy(createDilatedConvCompressor({ rate: 2 }), 'attention-reconstruction') }));
    keep(makePolicy()); // created and never built

    const savedConfig = await readModelConfig(directory);
    const loaded = keep(await loadModel(directory, { policy: createCompressivePolicyFromConfig(savedConfig.policy.config) }));
    // Different tfjs names (other scopes), same stable names.
    const before = policyVariableNames(saved);
    const after = policyVariableNames(loaded);
    expect(after.filter((name) => before.includes(name))).toEqual([]);
    const stable = (name: string) => name.slice(name.lastIndexOf('/') + 1);
    expect(after.map(stable)).toEqual(before.map(stable));
    expect(Object.keys(loaded.namedVariables()).sort()).toEqual(Object.keys(saved.namedVariables()).sort());
    expect(logitsAfter(loaded, 4)).toEqual(expected);
  });

  it('two copies of the package in one process (fresh module instances, counters at zero) agree on the names', async () => {
    const directory = await temporaryDirectory();
    const freshCopy = async () => {
      vi.resetModules();
      return (await import('./index.js')) as typeof import('./index.js');
    };
    const first = await freshCopy();
    const original = keep(
      createModel(config, { policy: first.createCompressivePolicy({ memoryLength: 4, compressedLength: 2, compressor: first.createConvCompressor({ rate: 2 }), training: 'none' }) }),
    );
    perturb(original, 23);
    await saveModel(original, directory);
    const second = await freshCopy();
    expect(second.createCompressivePolicy).not.toBe(first.createCompressivePolicy);
    const savedConfig = await readModelConfig(directory);
    // The original stays alive: the second copy's first scope must not collide with the first copy's.
    const loaded = keep(await loadModel(directory, { policy: second.createCompressivePolicyFromConfig(savedConfig.policy.config) }));
    const names = policyVariableNames(loaded);
    expect(names.every((name) => /^compressive\d+\/compressor\.layers\.\d\.(weight|bias)$/.test(name))).toBe(true);
    expect(names.filter((name) => policyVariableNames(original).includes(name))).toEqual([]);
    expect(logitsAfter(loaded, 4)).toEqual(logitsAfter(original, 4));
  });
});

/** The rows of the README's "Saved tensor names" table: who saves the tensor, its name pattern and shape. */
async function documentedNames(): Promise<{ savedBy: string; pattern: string; shape: string }[]> {
  const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const section = readme.split('## Saved tensor names')[1]?.split('\n## ')[0] ?? '';
  const rows = [...section.matchAll(/^\| `([^`]+)` \| `([^`]+)`[^|]* \| `(\[[^`]+\])` \|$/gm)];
  return rows.map((row) => ({ savedBy: row[1] as string, pattern: row[2] as string, shape: row[3] as string }));
}

/** Expands `{l}` / `{i}` of a documented pattern and evaluates its shape with `c` and `D`. */
function expand(
  row: { pattern: string; shape: string },
  sizes: { layers: number; convs: number; rate: number; modelDim: number },
): [string, number[]][] {
  const dimension = (text: string) =>
    text.split('*').reduce((product, factor) => product * (factor === 'c' ? sizes.rate : factor === 'D' ? sizes.modelDim : Number(factor)), 1);
  const shape = row.shape.slice(1, -1).split(', ').map(dimension);
  const result: [string, number[]][] = [];
  for (let layer = 0; layer < sizes.layers; layer++) {
    const withLayer = row.pattern.replace('{l}', String(layer));
    const convs = withLayer.includes('{i}') ? sizes.convs : 1;
    for (let conv = 0; conv < convs; conv++) result.push([withLayer.replace('{i}', String(conv)), shape]);
  }
  return result;
}

describe("saved tensor names are exactly the README's", () => {
  const cases: [string, () => Compressor, CompressionTraining, string[], number][] = [
    ['conv, auto-encoding', () => createConvCompressor({ rate: 2 }), 'auto-encoding', ['conv', 'auto-encoding'], 0],
    ['conv, bptt', () => createConvCompressor({ rate: 2 }), 'bptt', ['conv'], 0],
    ['dilated-conv, attention-reconstruction', () => createDilatedConvCompressor({ rate: 2 }), 'attention-reconstruction', ['dilated-conv'], 3],
    ['dilated-conv [1, 2], auto-encoding', () => createDilatedConvCompressor({ rate: 2, dilations: [1, 2] }), 'auto-encoding', ['dilated-conv', 'auto-encoding'], 2],
    ['max-pool', () => createMaxPoolCompressor({ rate: 2 }), 'none', [], 0],
  ];

  it('the table documents conv, dilated-conv and the decoders', async () => {
    const rows = await documentedNames();
    expect(rows.map((row) => row.savedBy)).toEqual(['conv', 'conv', 'dilated-conv', 'dilated-conv', 'auto-encoding', 'auto-encoding']);
  });

  for (const [name, make, training, savedBy, convs] of cases) {
    it(`${name}: model.safetensors holds exactly the documented policy tensors`, async () => {
      const rows = await documentedNames();
      const directory = await temporaryDirectory();
      // Other policies first, so the tfjs names carry a scope number other than 1.
      keep(createModel(config, { policy: compressivePolicy(make(), training) }));
      const model = keep(createModel(config, { policy: compressivePolicy(make(), training) }));
      await saveModel(model, directory);
      const { tensors } = await readSafetensors(join(directory, WEIGHTS_FILE));
      const saved = Object.entries(tensors)
        .filter(([tensorName]) => tensorName.startsWith('policy.'))
        .map(([tensorName, tensor]): [string, number[]] => [tensorName, tensor.shape]);
      tf.dispose(Object.values(tensors));
      const sizes = { layers: config.numLayers, convs, rate: 2, modelDim: config.modelDim };
      const expected = rows.filter((row) => savedBy.includes(row.savedBy)).flatMap((row) => expand(row, sizes));
      const byName = (a: [string, number[]], b: [string, number[]]) => a[0].localeCompare(b[0]);
      expect(saved.sort(byName)).toEqual(expected.sort(byName));
    });
  }
});

/** A dimensions object with the model's seed (`ModelDimensions.seed` is optional; older models omit it). */
function dimensions(seed?: number): ModelDimensions {
  const value: ModelDimensions & { seed?: number } = { numLayers: 2, modelDim: 4, numHeads: 1, segmentLength: 2 };
  if (seed !== undefined) value.seed = seed;
  return value;
}

/** Builds an auto-encoding policy for `dimensions(modelSeed)` and returns its weights as arrays. */
function weightsOf(options: { modelSeed?: number; compressorSeed?: number; policySeed?: number }): Record<string, number[]> {
  const policy = compressivePolicy(
    createConvCompressor({ rate: 2, ...(options.compressorSeed === undefined ? {} : { seed: options.compressorSeed }) }),
    'auto-encoding',
    options.policySeed,
  );
  policy.build(dimensions(options.modelSeed));
  const weights = policy.getWeights();
  const values = Object.fromEntries(Object.entries(weights).map(([name, tensor]) => [name, Array.from(tensor.dataSync())]));
  tf.dispose(Object.values(weights));
  policy.dispose();
  return values;
}

const pick = (weights: Record<string, number[]>, prefix: string) =>
  Object.fromEntries(Object.entries(weights).filter(([name]) => name.startsWith(prefix)));

describe('seeds', () => {
  it('a missing seed everywhere is fine: the policy builds, runs and initialises randomly', () => {
    const before = tf.memory().numTensors;
    const first = weightsOf({});
    const second = weightsOf({});
    expect(Object.keys(first).sort()).toEqual(Object.keys(second).sort());
    expect(pick(first, 'compressor.')).not.toEqual(pick(second, 'compressor.'));
    expect(pick(first, 'decoder.')).not.toEqual(pick(second, 'decoder.'));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("derives compressor and decoder seeds from the model's seed when none is given", () => {
    const first = weightsOf({ modelSeed: 5 });
    expect(weightsOf({ modelSeed: 5 })).toEqual(first);
    const other = weightsOf({ modelSeed: 6 });
    expect(pick(other, 'compressor.')).not.toEqual(pick(first, 'compressor.'));
    expect(pick(other, 'decoder.')).not.toEqual(pick(first, 'decoder.'));
    // Layers differ.
    expect(first['compressor.layers.0.weight']).not.toEqual(first['compressor.layers.1.weight']);
    expect(first['decoder.layers.0.weight']).not.toEqual(first['decoder.layers.1.weight']);
  });

  it("the compressor's own seed and the policy's seed win over the model's", () => {
    const own = weightsOf({ modelSeed: 5, compressorSeed: 1, policySeed: 2 });
    const otherModel = weightsOf({ modelSeed: 6, compressorSeed: 1, policySeed: 2 });
    const noModel = weightsOf({ compressorSeed: 1, policySeed: 2 });
    expect(otherModel).toEqual(own);
    expect(noModel).toEqual(own);
    // The policy seed alone fixes the decoders, the model seed then still fixes the compressor.
    const mixed = weightsOf({ modelSeed: 5, policySeed: 2 });
    expect(pick(mixed, 'decoder.')).toEqual(pick(own, 'decoder.'));
    expect(pick(mixed, 'compressor.')).toEqual(pick(weightsOf({ modelSeed: 5 }), 'compressor.'));
  });
});
