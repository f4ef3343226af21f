// Tests of the SPEC 3.2 losses: the key-only gradient construction and the linear decoder of auto-encoding.
import * as tf from '@tensorflow/tfjs';
import { checkGradients, expectClose } from '@engram/kernels/testing';
import { describe, expect, it } from 'vitest';
import { attentionReconstructionLoss, keyValueOnlyGradient, LinearDecoder } from './losses.js';
import { createTestAttention } from './test-support.js';

describe('keyValueOnlyGradient', () => {
  it('has the value of the loss and its gradient with respect to the keys, and none with respect to variables', () => {
    const { attention, variables, dispose } = createTestAttention(3, 5);
    const queries = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 1) as tf.Tensor3D;
    const target = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 2);
    const keys = tf.variable(tf.randomNormal([2, 2, 3], 0, 1, 'float32', 3), true, 'losses-test-keys');
    const lossOf = (x: tf.Tensor): tf.Scalar =>
      tf.mean(tf.squaredDifference(attention(queries, x as tf.Tensor3D), target)) as tf.Scalar;

    const plain = tf.variableGrads(() => lossOf(keys), [keys, ...variables]);
    const isolated = tf.variableGrads(() => keyValueOnlyGradient(lossOf, keys), [keys, ...variables]);
    expectClose(isolated.value, plain.value, { atol: 1e-7, rtol: 1e-6 });
    expectClose(isolated.grads[keys.name] as tf.Tensor, plain.grads[keys.name] as tf.Tensor, { atol: 1e-6 });
    for (const variable of variables) {
      expect(Array.from((plain.grads[variable.name] as tf.Tensor).dataSync()).some((v) => v !== 0)).toBe(true);
      const isolatedGradient = isolated.grads[variable.name];
      if (isolatedGradient) expect(Array.from(isolatedGradient.dataSync()).every((v) => v === 0)).toBe(true);
    }
    tf.dispose([plain.value, isolated.value, ...Object.values(plain.grads), ...Object.values(isolated.grads)]);
    tf.dispose([queries, target, keys]);
    dispose();
  });

  it('matches finite differences with respect to the compressed keys, and leaks nothing', () => {
    const { attention, dispose } = createTestAttention(2, 9);
    const queries = tf.randomNormal([1, 3, 2], 0, 1, 'float32', 4) as tf.Tensor3D;
    const old = tf.randomNormal([1, 4, 2], 0, 1, 'float32', 5) as tf.Tensor3D;
    const compressed = tf.randomNormal([1, 2, 2], 0, 1, 'float32', 6);
    checkGradients(
      (x: tf.Tensor) => attentionReconstructionLoss(attention, queries, old, x as tf.Tensor3D),
      [compressed],
      { epsilon: 1e-2, atol: 1e-3, rtol: 1e-2 },
    );
    // Inside a gradient over the compressed keys and every variable of the attention (which get none).
    const keys = tf.variable(compressed, true, 'losses-test-compressed');
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      const { value, grads } = tf.variableGrads(() =>
        attentionReconstructionLoss(attention, queries, old, tf.mul(keys, 1) as tf.Tensor3D),
      );
      expect(Object.keys(grads)).toEqual([keys.name]);
      value.dispose();
      tf.dispose(Object.values(grads));
    }
    const loss = attentionReconstructionLoss(attention, queries, old, compressed as tf.Tensor3D);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([queries, old, compressed, keys]);
    dispose();
  });
});

describe('attentionReconstructionLoss with shared queries (ContentAttention.forQueries)', () => {
  /** Naive reference: `mean((A(h, old) - A(h, x))^2)` differentiated by a plain gradient through the plain attention. */
  function naive(attention: (h: tf.Tensor3D, x: tf.Tensor3D) => tf.Tensor3D, h: tf.Tensor3D, old: tf.Tensor3D, x: tf.Tensor) {
    return tf.valueAndGrad((keys: tf.Tensor) => {
      const target = attention(h, old);
      return tf.mean(tf.squaredDifference(target, attention(h, keys as tf.Tensor3D))) as tf.Scalar;
    })(x);
  }

  it('prepares the queries once and matches the naive reference and the plain-function fallback (value, key gradient)', () => {
    const test = createTestAttention(4, 21);
    const h = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 22) as tf.Tensor3D;
    const old = tf.randomNormal([2, 6, 4], 0, 1, 'float32', 23) as tf.Tensor3D;
    const compressed = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 24);
    const reference = naive(test.attention, h, old, compressed);
    test.queryProjections.plain = 0;
    const shared = tf.valueAndGrad((x: tf.Tensor) => attentionReconstructionLoss(test.shared, h, old, x as tf.Tensor3D))(compressed);
    expect(test.queryProjections).toEqual({ plain: 0, shared: 1 });
    const fallback = tf.valueAndGrad((x: tf.Tensor) => attentionReconstructionLoss(test.attention, h, old, x as tf.Tensor3D))(compressed);
    expect(test.queryProjections.plain).toBeGreaterThanOrEqual(2);
    for (const [name, result] of [['shared', shared], ['fallback', fallback]] as const) {
      expectClose(result.value, reference.value, { atol: 1e-7, rtol: 1e-5, message: `${name} value` });
      expectClose(result.grad, reference.grad, { atol: 1e-7, rtol: 1e-4, message: `${name} gradient` });
    }
    expect(Array.from(reference.grad.dataSync()).some((v) => v !== 0)).toBe(true);
    tf.dispose([reference.value, reference.grad, shared.value, shared.grad, fallback.value, fallback.grad, h, old, compressed]);
    test.dispose();
  });

  it.each(['shared', 'withGradient'] as const)('%s: matches finite differences, gives the projections no gradient and leaks nothing, also when the loss throws', (form) => {
    const test = createTestAttention(3, 31);
    const h = tf.randomNormal([1, 4, 3], 0, 1, 'float32', 32) as tf.Tensor3D;
    const old = tf.randomNormal([1, 4, 3], 0, 1, 'float32', 33) as tf.Tensor3D;
    const compressed = tf.randomNormal([1, 2, 3], 0, 1, 'float32', 34);
    checkGradients((x: tf.Tensor) => attentionReconstructionLoss(test[form], h, old, x as tf.Tensor3D), [compressed], {
      epsilon: 1e-2,
      atol: 1e-3,
      rtol: 1e-2,
    });
    // withGradient: the loss took the key gradient from attendWithGradient, shared: from a nested gradient.
    expect(test.gradientCalls.attendWithGradient > 0).toBe(form === 'withGradient');
    const keys = tf.variable(compressed, true, `losses-test-${form}-compressed`);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      const { value, grads } = tf.variableGrads(() => attentionReconstructionLoss(test[form], h, old, tf.mul(keys, 1) as tf.Tensor3D));
      expect(Object.keys(grads)).toEqual([keys.name]);
      value.dispose();
      tf.dispose(Object.values(grads));
    }
    // A key input of the wrong width makes attend throw: the prepared queries are released all the same.
    const wrong = tf.zeros([1, 2, 5]) as tf.Tensor3D;
    expect(() => attentionReconstructionLoss(test[form], h, old, wrong)).toThrow();
    wrong.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([h, old, compressed, keys]);
    test.dispose();
  });
});

describe('attentionReconstructionLoss with a hand-written key gradient (QueryBoundAttention.attendWithGradient)', () => {
  it('uses it once and gives the value and gradient of the nested-gradient path; only the keys get a gradient; no leak', () => {
    const test = createTestAttention(4, 41);
    const h = tf.randomNormal([3, 5, 4], 0, 1, 'float32', 42) as tf.Tensor3D;
    const old = tf.randomNormal([3, 6, 4], 0, 1, 'float32', 43) as tf.Tensor3D;
    const keys = tf.variable(tf.randomNormal([3, 3, 4], 0, 1, 'float32', 44), true, 'losses-test-hand-compressed');
    const every = [keys, ...test.variables];
    const loss = (attention: typeof test.shared) => () => attentionReconstructionLoss(attention, h, old, tf.mul(keys, 1) as tf.Tensor3D);
    const nested = tf.variableGrads(loss(test.shared), every);
    expect(test.gradientCalls.attendWithGradient).toBe(0);
    const before = tf.memory().numTensors;
    const hand = tf.variableGrads(loss(test.withGradient), every);
    expect(test.gradientCalls.attendWithGradient).toBe(1);
    expect(Object.keys(hand.grads)).toEqual([keys.name]);
    expect(tf.memory().numTensors).toBe(before + 2);
    expectClose(hand.value, nested.value, { atol: 1e-7, rtol: 1e-5, message: 'value' });
    expectClose(hand.grads[keys.name] as tf.Tensor, nested.grads[keys.name] as tf.Tensor, { atol: 1e-7, rtol: 1e-4, message: 'gradient' });
    expect(Array.from((hand.grads[keys.name] as tf.Tensor).dataSync()).some((v) => v !== 0)).toBe(true);
    // Outside any gradient computation: the same value.
    const plainValue = attentionReconstructionLoss(test.withGradient, h, old, keys as unknown as tf.Tensor3D);
    expectClose(plainValue, nested.value, { atol: 1e-7, rtol: 1e-5, message: 'untaped value' });
    tf.dispose([plainValue, hand.value, nested.value, ...Object.values(hand.grads), ...Object.values(nested.grads)]);
    tf.dispose([h, old, keys]);
    test.dispose();
  });
});

describe('LinearDecoder', () => {
  it('maps slot j to memories j*c .. j*c+c-1 with x @ W + b (loop reference)', () => {
    const decoder = new LinearDecoder({ modelDim: 2, rate: 3, seed: 4, namePrefix: 'losses-test-decoder' });
    const bias = tf.tensor1d([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    decoder.bias.assign(bias);
    bias.dispose();
    const weight = decoder.weight.arraySync();
    const biasValues = decoder.bias.arraySync();
    const slots = [
      [
        [1, -2],
        [0.5, 3],
      ],
    ];
    const input = tf.tensor3d(slots);
    const decoded = decoder.decode(input);
    expect(decoded.shape).toEqual([1, 6, 2]);
    const expected = [
      slots[0]!.flatMap((slot) =>
        [0, 1, 2].map((part) =>
          [0, 1].map(
            (e) =>
              (biasValues[part * 2 + e] as number) +
              slot.reduce((sum, x, d) => sum + x * (weight[d]?.[part * 2 + e] as number), 0),
          ),
        ),
      ),
    ];
    expectClose(decoded, expected);
    tf.dispose([input, decoded]);
    expect(decoder.variables()).toEqual([decoder.weight, decoder.bias]);
    decoder.dispose();
    expect(decoder.weight.isDisposed).toBe(true);
  });
});
