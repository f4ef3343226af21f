// Tests of defineCompressor's contract enforcement (input validation, output checks, variables, weights I/O).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { splitVariableName, uniqueVariableName, uniqueVariableScope } from '@engram/memory';
import { blockMeanPositions, layerSeed, toBlocks } from './compressor-blocks.js';
import { defineCompressor } from './define-compressor.js';
import {
  CompressionError,
  CompressionStateError,
  CompressorLifecycleError,
  InvalidCompressionOptionError,
  InvalidCompressorInputError,
} from './errors.js';

describe('defineCompressor', () => {
  it('checks the output shape and dtype and frees the bad output', () => {
    const broken = defineCompressor({
      kind: 'broken',
      rate: 2,
      build: () => ({ compress: ({ hidden }) => tf.clone(hidden) }),
    }).build({ modelDim: 3, layer: 0 });
    const hidden = tf.zeros([1, 4, 3]) as tf.Tensor3D;
    const positions = tf.tensor2d([[0, 1, 2, 3]], undefined, 'int32');
    const before = tf.memory().numTensors;
    expect(() => broken.compress({ hidden, positions })).toThrow(CompressionError);
    expect(() => broken.compress({ hidden, positions })).toThrow(/expected hidden float32 \[1, 2, 3\].*got hidden float32 \[1, 4, 3\]/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([hidden, positions]);
    broken.dispose();
  });

  it('validates the input: width, positions dtype and shape, usage when declared', () => {
    const layer = defineCompressor({
      kind: 'strict',
      rate: 2,
      needsUsage: true,
      build: () => ({ compress: ({ hidden }) => tf.mean(toBlocks(hidden, 2), 2) }),
    }).build({ modelDim: 2, layer: 0 });
    const hidden = tf.zeros([1, 4, 2]) as tf.Tensor3D;
    const wide = tf.zeros([1, 4, 3]) as tf.Tensor3D;
    const positions = tf.tensor2d([[0, 1, 2, 3]], undefined, 'int32');
    const floatPositions = tf.tensor2d([[0, 1, 2, 3]]);
    const usage = tf.ones([1, 4]) as tf.Tensor2D;
    const shortUsage = tf.ones([1, 3]) as tf.Tensor2D;
    expect(() => layer.compress({ hidden: wide, positions, usage })).toThrow(/\[batch, n, 2\]/);
    expect(() => layer.compress({ hidden, positions: floatPositions, usage })).toThrow(/int32/);
    expect(() => layer.compress({ hidden, positions })).toThrow(InvalidCompressorInputError);
    expect(() => layer.compress({ hidden, positions, usage: shortUsage })).toThrow(/usage/);
    const output = layer.compress({ hidden, positions, usage });
    expect(output.positions.arraySync()).toEqual([[0, 2]]);
    tf.dispose([hidden, wide, positions, floatPositions, usage, shortUsage, output.hidden, output.positions]);
    layer.dispose();
    expect(() => layer.compress({ hidden, positions })).toThrow(CompressorLifecycleError);
  });

  it('holds a declared trainable flag to what build() creates', () => {
    const liar = defineCompressor({ kind: 'liar', rate: 2, trainable: true, build: () => ({ compress: ({ hidden }) => hidden }) });
    expect(() => liar.build({ modelDim: 2, layer: 0 })).toThrow(/declared trainable: true but build\(\) created 0/);
    const before = tf.memory().numTensors;
    const hidden = defineCompressor({
      kind: 'hidden-variables',
      rate: 2,
      build: ({ variable }) => {
        variable('weight', tf.zeros([2]));
        return { compress: ({ hidden: x }) => x };
      },
    });
    expect(() => hidden.build({ modelDim: 2, layer: 0 })).toThrow(CompressorLifecycleError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names variables <scope>/<prefix>.<name>, and setWeights checks names and shapes', () => {
    const compressor = defineCompressor({
      kind: 'scaled',
      rate: 1,
      trainable: true,
      seed: 3,
      build: ({ variable, modelDim }) => {
        const scale = variable('scale', tf.ones([modelDim]));
        return { compress: ({ hidden }) => tf.mul(hidden, scale) };
      },
    });
    const layer = compressor.build({ modelDim: 2, layer: 4, namePrefix: 'my-scope/compressor.layers.4' });
    expect(layer.variables().map((variable) => variable.name)).toEqual(['my-scope/compressor.layers.4.scale']);
    const again = compressor.build({ modelDim: 2, layer: 4, namePrefix: 'my-scope/compressor.layers.4' });
    // The name is taken: the scope gets the suffix, the stable name (what a model saves) stays.
    expect(again.variables()[0]?.name).toBe('my-scope_2/compressor.layers.4.scale');
    const wrong = tf.ones([3]);
    expect(() => layer.setWeights({ scale: wrong })).toThrow(CompressionStateError);
    expect(() => layer.setWeights({ scale: wrong })).toThrow(/"scale" must be float32 \[2\], got float32 \[3\]/);
    expect(() => layer.setWeights({})).toThrow(/missing scale/);
    wrong.dispose();
    layer.dispose();
    again.dispose();
  });

  it('derives distinct, stable per-layer seeds', () => {
    const seeds = [0, 1, 2, 3].map((layer) => layerSeed(7, layer));
    expect(new Set(seeds).size).toBe(4);
    expect(layerSeed(7, 2)).toBe(seeds[2]);
    expect(layerSeed(8, 2)).not.toBe(seeds[2]);
  });

  it('blockMeanPositions floors the mean of each block', () => {
    const positions = tf.tensor2d([[1, 2, 4, 5, 6, 9]], undefined, 'int32');
    const means = blockMeanPositions(positions, 3);
    expect(means.dtype).toBe('int32');
    expect(means.arraySync()).toEqual([[2, 6]]);
    tf.dispose([positions, means]);
  });
});

/** A scaled-copy compressor (rate 1) with one variable `scale` `[D]`, seeded by `context.seed`. */
function scaledCompressor(seed?: number) {
  return defineCompressor({
    kind: 'scaled',
    rate: 1,
    trainable: true,
    ...(seed === undefined ? {} : { seed }),
    build: ({ variable, modelDim, seed: layerSeedValue }) => {
      const scale = variable('scale', tf.randomUniform([modelDim], -1, 1, 'float32', layerSeedValue));
      return { compress: ({ hidden }) => tf.mul(hidden, scale) };
    },
  });
}

describe('variable names: <unique scope>/<stable name>', () => {
  it('splits a name at its last "/"', () => {
    expect(splitVariableName('compressive3/compressor.layers.0.weight')).toEqual({
      scope: 'compressive3',
      stableName: 'compressor.layers.0.weight',
    });
    expect(splitVariableName('a/b/c.d')).toEqual({ scope: 'a/b', stableName: 'c.d' });
    expect(splitVariableName('weight')).toEqual({ scope: '', stableName: 'weight' });
  });

  it('uniqueVariableName suffixes the scope, never the stable name', () => {
    const taken = [
      tf.variable(tf.zeros([1]), true, 'names-test/layers.0.weight'),
      tf.variable(tf.zeros([1]), true, 'names-test_2/layers.0.weight'),
      tf.variable(tf.zeros([1]), true, 'bare-name'),
    ];
    expect(uniqueVariableName('names-test/layers.0.bias')).toBe('names-test/layers.0.bias');
    expect(uniqueVariableName('names-test/layers.0.weight')).toBe('names-test_3/layers.0.weight');
    expect(uniqueVariableName('bare-name')).toBe('_2/bare-name');
    for (const variable of taken) variable.dispose();
    expect(uniqueVariableName('names-test/layers.0.weight')).toBe('names-test/layers.0.weight');
  });

  it('uniqueVariableScope skips scopes a live variable sits in', () => {
    const first = uniqueVariableScope('scope-test');
    const match = /^scope-test(\d+)$/.exec(first);
    expect(match).not.toBeNull();
    const next = Number(match?.[1]) + 1;
    // As another copy of this package would: variables in the next two scopes.
    const taken = [
      tf.variable(tf.zeros([1]), true, `scope-test${next}/weight`),
      tf.variable(tf.zeros([1]), true, `scope-test${next + 1}/deeper/bias`),
    ];
    expect(uniqueVariableScope('scope-test')).toBe(`scope-test${next + 2}`);
    // A variable named like the scope but outside it does not block it.
    const lookalike = tf.variable(tf.zeros([1]), true, `scope-test${next + 3}0/weight`);
    expect(uniqueVariableScope('scope-test')).toBe(`scope-test${next + 3}`);
    for (const variable of [...taken, lookalike]) variable.dispose();
  });

  it('default names are <kind>{N}/layers.{l}.{name}, never suffixed, in distinct scopes', () => {
    const compressor = scaledCompressor(1);
    const layers = [compressor.build({ modelDim: 2, layer: 0 }), compressor.build({ modelDim: 2, layer: 0 })];
    const names = layers.map((layer) => layer.variables()[0]?.name ?? '');
    for (const name of names) expect(name).toMatch(/^scaled\d+\/layers\.0\.scale$/);
    expect(names[0]).not.toBe(names[1]);
    for (const layer of layers) layer.dispose();
  });

  it('rejects variable names with "/" and bad name prefixes, without leaking the initial value', () => {
    const slashed = defineCompressor({
      kind: 'slashed',
      rate: 1,
      trainable: true,
      build: ({ variable }) => {
        variable('inner/scale', tf.ones([2]));
        return { compress: ({ hidden }) => tf.clone(hidden) };
      },
    });
    const before = tf.memory().numTensors;
    expect(() => slashed.build({ modelDim: 2, layer: 0 })).toThrow(InvalidCompressionOptionError);
    expect(() => slashed.build({ modelDim: 2, layer: 0 })).toThrow(/option "name" must be a non-empty name without "\/".*got "inner\/scale"/);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => scaledCompressor().build({ modelDim: 2, layer: 0, namePrefix: 'scope/' })).toThrow(/option "namePrefix"/);
    expect(() => scaledCompressor().build({ modelDim: 2, layer: 0, namePrefix: '' })).toThrow(/option "namePrefix"/);
    expect(() => scaledCompressor().build({ modelDim: 2, layer: 0, defaultSeed: 1.5 })).toThrow(/option "defaultSeed"/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('defaultSeed', () => {
  const scaleOf = (seed: number | undefined, defaultSeed: number | undefined, layer = 0): number[] => {
    const built = scaledCompressor(seed).build({
      modelDim: 4,
      layer,
      ...(defaultSeed === undefined ? {} : { defaultSeed }),
    });
    const values = Array.from(built.variables()[0]?.dataSync() ?? []);
    built.dispose();
    return values;
  };

  it('seeds a compressor that has no seed of its own, per layer', () => {
    expect(scaleOf(undefined, 5)).toEqual(scaleOf(undefined, 5));
    expect(scaleOf(undefined, 5)).not.toEqual(scaleOf(undefined, 6));
    expect(scaleOf(undefined, 5, 1)).not.toEqual(scaleOf(undefined, 5, 0));
    // Equivalent to giving the compressor that seed.
    expect(scaleOf(undefined, 5)).toEqual(scaleOf(5, undefined));
  });

  it("never overrides the compressor's own seed", () => {
    expect(scaleOf(2, 5)).toEqual(scaleOf(2, 6));
    expect(scaleOf(2, 5)).toEqual(scaleOf(2, undefined));
  });

  it('leaves an unseeded compressor random when no default is given', () => {
    expect(scaleOf(undefined, undefined)).not.toEqual(scaleOf(undefined, undefined));
  });
});
