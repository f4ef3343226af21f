// Tests of defineCompressor's contract enforcement (input validation, output checks, variables, weights I/O).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { blockMeanPositions, defineCompressor, layerSeed, toBlocks } from './compressor.js';
import { CompressionError, CompressionStateError, CompressorLifecycleError, InvalidCompressorInputError } from './errors.js';

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
    expect(again.variables()[0]?.name).toBe('my-scope/compressor.layers.4.scale_2');
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
