// Tests of the shared test helpers, including that each one fails when it should.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { GradientMismatchError, NumericMismatchError, TensorLeakError } from '../errors.js';
import { checkGradients, expectClose, expectNoLeak } from './index.js';

describe('expectClose', () => {
  test('accepts equal tensors, numbers, nested arrays and typed arrays', () => {
    const tensor = tf.tensor2d([[1, 2], [3, 4]]);
    expectClose(tensor, [[1, 2], [3, 4]]);
    expectClose([[1, 2], [3, 4]], tensor);
    expectClose(tf.scalar(0.5), 0.5);
    expectClose(new Float32Array([1, 2]), [1, 2]);
    expectClose([1 + 1e-6, Infinity, NaN], [1, Infinity, NaN]);
    tf.dispose(tensor);
  });

  test('applies atol and rtol', () => {
    expectClose([100.5], [100], { atol: 0, rtol: 0.01 });
    expect(() => expectClose([100.5], [100], { atol: 0, rtol: 0.001 })).toThrow(NumericMismatchError);
    expectClose([0.05], [0], { atol: 0.1 });
  });

  test('names the worst index, both values and the count', () => {
    let message = '';
    try {
      expectClose([[0, 1, 2], [3, 4, 5]], [[0, 1.1, 2], [3, 4, 9]], { message: 'my op' });
    } catch (error) {
      expect(error).toBeInstanceOf(NumericMismatchError);
      message = (error as Error).message;
    }
    expect(message).toContain('my op');
    expect(message).toContain('2 of 6 elements');
    expect(message).toContain('worst at [1, 2]');
    expect(message).toContain('actual 5, expected 9');
  });

  test('fails on shape mismatch, ragged arrays and NaN against a number', () => {
    expect(() => expectClose([1, 2, 3], [[1, 2, 3]])).toThrow(/shape mismatch.*\[3\].*\[1, 3\]/);
    expect(() => expectClose(tf.zeros([2, 3]), tf.zeros([3, 2]))).toThrow(/shape mismatch/);
    expect(() => expectClose([[1, 2], [3]], [[1, 2], [3, 4]])).toThrow(/ragged/);
    expect(() => expectClose([NaN], [0], { atol: 1 })).toThrow(/actual NaN, expected 0/);
    expect(() => expectClose([Infinity], [1e30], { rtol: 1 })).toThrow(NumericMismatchError);
  });
});

describe('checkGradients', () => {
  test('passes for correct gradients of a smooth function of two inputs', () => {
    const a = tf.tensor2d([[0.3, -0.7], [1.2, 0.1]]);
    const b = tf.tensor1d([0.5, -1.5]);
    expectNoLeak(() => checkGradients((x, y) => tf.sum(tf.mul(tf.tanh(x), tf.exp(y as tf.Tensor))), [a, b]));
    tf.dispose([a, b]);
  });

  test('fails when the analytic gradient is wrong, naming input and element', () => {
    // Forward x^2, but the registered gradient is 4x instead of 2x.
    const wrongGradient = tf.customGrad((...args) => {
      const input = args[0] as tf.Tensor;
      return { value: tf.mul(input, input), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.mul(input, 4)) };
    });
    const x = tf.tensor1d([0.5, 1.0, -2.0]);
    const y = tf.tensor1d([1, 1, 1]);
    let caught: unknown;
    expectNoLeak(() => {
      try {
        checkGradients((first, second) => tf.sum(tf.add(first as tf.Tensor, wrongGradient(second as tf.Tensor))), [y, x]);
      } catch (error) {
        caught = error;
      }
    });
    expect(caught).toBeInstanceOf(GradientMismatchError);
    expect((caught as GradientMismatchError).inputIndex).toBe(1);
    expect((caught as GradientMismatchError).elementIndex).toBe(0);
    expect((caught as Error).message).toContain('gradient of input 1');
    expect((caught as Error).message).toMatch(/analytic 2, finite difference 1\.0/);
    tf.dispose([x, y]);
  });

  test('rejects non-scalar outputs and integer inputs', () => {
    const x = tf.tensor1d([1, 2]);
    const index = tf.tensor1d([1, 2], 'int32');
    expect(() => checkGradients((t) => tf.mul(t, 2) as tf.Scalar, [x])).toThrow(/returning a scalar/);
    expect(() => checkGradients((t) => tf.sum(t), [index])).toThrow(/float32/);
    tf.dispose([x, index]);
  });
});

describe('expectNoLeak', () => {
  test('passes when nothing leaks (sync and async)', async () => {
    expectNoLeak(() => {
      tf.tidy(() => {
        tf.add(tf.ones([3]), 1);
      });
    });
    await expectNoLeak(async () => {
      const t = tf.ones([3]);
      await t.data();
      t.dispose();
    });
  });

  test('throws with the difference when tensors leak', async () => {
    const kept: tf.Tensor[] = [];
    expect(() => expectNoLeak(() => void kept.push(tf.ones([2]), tf.zeros([2])))).toThrow(TensorLeakError);
    expect(() => expectNoLeak(() => void kept.push(tf.ones([2])))).toThrow(/1 tensor\(s\) leaked/);
    await expect(expectNoLeak(async () => void kept.push(tf.ones([2])))).rejects.toThrow(TensorLeakError);
    expectNoLeak(() => void kept.push(tf.ones([2])), { allowed: 1 });
    tf.dispose(kept);
  });

  test('lets an error thrown by the function propagate', () => {
    expect(() =>
      expectNoLeak(() => {
        throw new RangeError('boom');
      }),
    ).toThrow(RangeError);
  });
});
