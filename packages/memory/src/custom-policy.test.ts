// The README's "write your own policy" example, run as written: the conformance suite and its fading mask.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createFadingMemoryPolicy } from '../examples/custom-policy.js';
import { testMemoryPolicy } from './testing/index.js';

testMemoryPolicy({ create: () => createFadingMemoryPolicy({ memoryLength: 5 }), name: 'MemoryPolicy conformance: README example' });

describe('README example: a user-written policy', () => {
  it('is quoted verbatim in the README', () => {
    const example = readFileSync(new URL('../examples/custom-policy.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('fades keys by exp(-softplus(r) x / M) per head, and the rates receive a gradient', () => {
    const policy = createFadingMemoryPolicy({ memoryLength: 4 });
    policy.build({ numLayers: 1, modelDim: 2, numHeads: 2, segmentLength: 2 });
    const queryPositions = tf.tensor2d([[4, 5]], undefined, 'int32');
    const keyPositions = tf.tensor2d([[2, 3, 4, 5]], undefined, 'int32');
    const keyHidden = tf.zeros([1, 4, 2]) as tf.Tensor3D;
    const context = { layer: 0, keyHidden, keyPositions, queryPositions, memorySlots: 2, training: true };
    const mask = policy.modulate?.(context).softMask as tf.Tensor4D;
    const slow = Math.log1p(Math.exp(-2));
    const expected = [4, 5].map((query) => [2, 3, 4, 5].map((key) => Math.exp((-slow * Math.max(0, query - key)) / 4)));
    const values = mask.arraySync()[0] as number[][][];
    for (const head of values) {
      head.forEach((row, query) => row.forEach((value, key) => expect(value).toBeCloseTo(expected[query]![key]!, 6)));
    }
    const { value, grads } = tf.variableGrads(() => tf.sum(policy.modulate!(context).softMask!) as tf.Scalar, policy.variables());
    const gradient = Array.from(Object.values(grads)[0]!.dataSync());
    expect(gradient.every((entry) => entry < 0)).toBe(true);
    tf.dispose([mask, value, ...Object.values(grads), queryPositions, keyPositions, keyHidden]);
    policy.dispose();
  });
});
