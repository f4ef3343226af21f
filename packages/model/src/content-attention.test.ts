// Tests of the model's per-layer content attention (SegmentRecord.contentAttention) and its shared-query form.
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState, type ContentAttention, type MemoryPolicy } from '@engram/memory';
import { describe, expect, test } from 'vitest';
import type { ModelConfig } from './config.js';
import { createModel, type MemoryTransformer } from './model.js';
import { columns, randomTokens, tinyConfig } from './test-helpers.js';

/** A FIFO policy that keeps the content attentions of the last record it is handed. */
function capturingPolicy(): { policy: MemoryPolicy; attentions: () => readonly ContentAttention[] } {
  const fifo = createFifoPolicy({ memoryLength: 4 });
  let captured: readonly ContentAttention[] = [];
  const policy: MemoryPolicy = Object.assign(Object.create(fifo) as MemoryPolicy, {
    write: (...args: Parameters<MemoryPolicy['write']>) => {
      captured = args[1].contentAttention;
      return fifo.write(...args);
    },
  });
  return { policy, attentions: () => captured };
}

/** A model of `tinyConfig(overrides)` and the content attentions of one forward pass over `rows` rows (its tensors freed). */
function modelWithAttentions(overrides: Partial<ModelConfig>, rows: number): { model: MemoryTransformer; attentions: readonly ContentAttention[] } {
  const { policy, attentions } = capturingPolicy();
  const model = createModel(tinyConfig(overrides), { policy });
  const tokens = columns(randomTokens(rows, 4, 11, 3), 0, 4);
  const result = model.forward(tokens, model.initialState(rows));
  tf.dispose([tokens, result.logits]);
  disposeState(result.state);
  return { model, attentions: attentions() };
}

/** Hand reference of layer l: optional layer norm of both inputs, then softmax(Q K^T / sqrt(d)) V per head, merged. */
function reference(model: MemoryTransformer, layer: number, h: tf.Tensor3D, x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const { modelDim: width, numHeads, norm } = model.config;
    const named = model.namedVariables();
    const weight = (name: string) => named[`layers.${layer}.${name}`] as tf.Tensor;
    const normalise = (t: tf.Tensor3D): tf.Tensor => {
      if (norm === 'post') return t;
      const { mean, variance } = tf.moments(t, -1, true);
      const scaled = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, model.config.layerNormEpsilon)));
      return tf.add(tf.mul(scaled, weight('attention_norm.weight')), weight('attention_norm.bias'));
    };
    const headDim = width / numHeads;
    const heads = (t: tf.Tensor, projection: string) => {
      const [batch, length] = t.shape as [number, number, number];
      const projected = tf.matMul(tf.reshape(t, [batch * length, width]), weight(`attention.${projection}.weight`));
      return tf.transpose(tf.reshape(projected, [batch, length, numHeads, headDim]), [0, 2, 1, 3]);
    };
    const q = heads(normalise(h), 'query');
    const k = heads(normalise(x), 'key');
    const v = heads(normalise(x), 'value');
    const probabilities = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(headDim)));
    const merged = tf.transpose(tf.matMul(probabilities, v), [0, 2, 1, 3]);
    return tf.reshape(merged, h.shape) as tf.Tensor3D;
  });
}

describe('the model content attention', () => {
  test.each([
    ['pre-norm', { norm: 'pre' }],
    ['post-norm', { norm: 'post' }],
  ] as [string, Partial<ModelConfig>][])('%s: the plain call and forQueries match the hand reference, values and key gradients', (_name, overrides) => {
    const { model, attentions } = modelWithAttentions(overrides, 2);
    const width = model.config.modelDim;
    const h = tf.randomNormal([2, 3, width], 0, 1, 'float32', 5) as tf.Tensor3D;
    const x = tf.randomNormal([2, 5, width], 0, 1, 'float32', 6) as tf.Tensor3D;
    const probe = tf.randomNormal([2, 3, width], 0, 1, 'float32', 7);
    expect(attentions).toHaveLength(model.config.numLayers);
    for (let layer = 0; layer < model.config.numLayers; layer++) {
      const attention = attentions[layer] as ContentAttention;
      expect(typeof attention.forQueries).toBe('function');
      const before = tf.memory().numTensors;
      const bound = attention.forQueries!(h);
      const expected = reference(model, layer, h, x);
      const plain = attention(h, x);
      const shared = bound.attend(x);
      expectClose(plain, expected, { atol: 1e-5, rtol: 1e-4, message: `layer ${layer} plain` });
      expectClose(shared, expected, { atol: 1e-5, rtol: 1e-4, message: `layer ${layer} forQueries` });
      const slope = (f: (t: tf.Tensor3D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor3D), probe)))(x);
      const expectedGradient = slope((t) => reference(model, layer, h, t));
      const sharedGradient = slope((t) => bound.attend(t));
      expectClose(sharedGradient, expectedGradient, { atol: 1e-5, rtol: 1e-4, message: `layer ${layer} key gradient` });
      expect(Array.from(sharedGradient.dataSync()).some((value) => value !== 0)).toBe(true);
      tf.dispose([expected, plain, shared, expectedGradient, sharedGradient]);
      bound.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([h, x, probe]);
    model.dispose();
  });

  test.each([
    ['pre-norm', { norm: 'pre' }],
    ['post-norm', { norm: 'post' }],
  ] as [string, Partial<ModelConfig>][])('%s, odd shapes: attendWithGradient gives attend(x) and the gradient of the hand reference (through the norm), no leak', (_name, overrides) => {
    // Batch 3, queries 5, keys 7, heads 2 of width 3; the norm's scale and shift away from 1 and 0.
    const { model, attentions } = modelWithAttentions({ modelDim: 6, numHeads: 2, ...overrides }, 3);
    const named = model.namedVariables();
    for (let layer = 0; layer < model.config.numLayers; layer++) {
      for (const [part, mean] of [['weight', 1], ['bias', 0]] as const) {
        const value = tf.randomNormal([6], mean, 0.5, 'float32', 40 + layer);
        (named[`layers.${layer}.attention_norm.${part}`] as tf.Variable).assign(value);
        value.dispose();
      }
    }
    const h = tf.randomNormal([3, 5, 6], 0, 1, 'float32', 15) as tf.Tensor3D;
    const x = tf.randomNormal([3, 7, 6], 0.3, 1.5, 'float32', 16) as tf.Tensor3D;
    const probe = tf.randomNormal([3, 5, 6], 0, 1, 'float32', 17) as tf.Tensor3D;
    for (let layer = 0; layer < model.config.numLayers; layer++) {
      const bound = (attentions[layer] as ContentAttention).forQueries!(h);
      expect(typeof bound.attendWithGradient).toBe('function');
      // Upstream gradient probe * O: the gradient of 0.5 * sum(probe * O^2).
      const expectedGradient = tf.grad((t: tf.Tensor) => tf.mul(0.5, tf.sum(tf.mul(probe, tf.square(reference(model, layer, h, t as tf.Tensor3D))))))(x);
      const expectedOutput = reference(model, layer, h, x);
      const before = tf.memory().numTensors;
      const { output, keyValueGradient } = bound.attendWithGradient!(x, (o) => tf.mul(probe, o) as tf.Tensor3D);
      expect(tf.memory().numTensors).toBe(before + 2);
      expectClose(output, expectedOutput, { atol: 1e-5, rtol: 1e-4, message: `layer ${layer} output` });
      expectClose(keyValueGradient, expectedGradient, { atol: 1e-5, rtol: 1e-4, message: `layer ${layer} key gradient` });
      expect(Math.max(...Array.from(keyValueGradient.dataSync(), Math.abs))).toBeGreaterThan(1e-2);
      tf.dispose([output, keyValueGradient, expectedGradient, expectedOutput]);
      bound.dispose();
    }
    tf.dispose([h, x, probe]);
    model.dispose();
  });

  test('pre-norm attendWithGradient matches finite differences on a tiny case', () => {
    const { model, attentions } = modelWithAttentions({ modelDim: 4, numHeads: 2, numLayers: 1, norm: 'pre' }, 1);
    const scale = tf.tensor1d([1.5, 0.5, -1, 2]);
    (model.namedVariables()['layers.0.attention_norm.weight'] as tf.Variable).assign(scale);
    scale.dispose();
    const h = tf.randomNormal([1, 2, 4], 0, 1, 'float32', 25) as tf.Tensor3D;
    const x = tf.randomNormal([1, 3, 4], 0, 1, 'float32', 26) as tf.Tensor3D;
    const probe = tf.randomNormal([1, 2, 4], 0, 1, 'float32', 27) as tf.Tensor3D;
    const bound = (attentions[0] as ContentAttention).forQueries!(h);
    const { output, keyValueGradient } = bound.attendWithGradient!(x, () => tf.clone(probe));
    const base = Float32Array.from(x.dataSync());
    const epsilon = 1e-2;
    const lossAt = (values: Float32Array): number =>
      tf.tidy(() => tf.sum(tf.mul(bound.attend(tf.tensor3d(values, x.shape)), probe)).dataSync()[0] as number);
    const numeric = Array.from(base, (value, index) => {
      const shifted = base.slice();
      shifted[index] = value + epsilon;
      const up = lossAt(shifted);
      shifted[index] = value - epsilon;
      return (up - lossAt(shifted)) / (2 * epsilon);
    });
    const numericGradient = tf.tensor3d(numeric, x.shape);
    expectClose(keyValueGradient, numericGradient, { atol: 2e-3, rtol: 2e-2 });
    expect(Math.max(...numeric.map(Math.abs))).toBeGreaterThan(1e-2);
    bound.dispose();
    tf.dispose([output, keyValueGradient, numericGradient, h, x, probe]);
    model.dispose();
  });
});
