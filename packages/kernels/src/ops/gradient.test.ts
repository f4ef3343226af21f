// stopGradient (identity forward, zero backward) and clipByGlobalNorm (pre-clip norm, scaling, ownership).
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { expectClose, expectNoLeak } from '../testing/index.js';
import { clipByGlobalNorm, stopGradient } from './gradient.js';

test('stopGradient is the identity forward and blocks the gradient', () => {
  const x = tf.tensor2d([[1, -2], [3, 0.5]]);
  const stopped = stopGradient(x);
  expect(stopped).not.toBe(x);
  expectClose(stopped, x, { atol: 0, rtol: 0 });
  // d/dx sum(stop(x) * x) = stop(x) = x, not 2x.
  const gradient = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(stopGradient(a), a)))(x);
  expectClose(gradient, x, { atol: 0, rtol: 0 });
  const only = tf.grad((a: tf.Tensor) => tf.sum(tf.square(stopGradient(a))))(x);
  expectClose(only, [[0, 0], [0, 0]], { atol: 0, rtol: 0 });
  tf.dispose([x, stopped, gradient, only]);
});

test('stopGradient does not leak and rejects disposed tensors', () => {
  const x = tf.ones([3]);
  expectNoLeak(() => stopGradient(x).dispose());
  expectNoLeak(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(stopGradient(a), a)))(x).dispose());
  x.dispose();
  expect(() => stopGradient(x)).toThrow(/disposed/);
});

function norm(arrays: number[][]): number {
  return Math.sqrt(arrays.flat().reduce((total, value) => total + value * value, 0));
}

test('clipByGlobalNorm reports the pre-clip norm and scales to maxNorm', () => {
  const a = [3, 0, -4];
  const b = [1, 2, 2, 6];
  const gradients = { a: tf.tensor1d(a), b: tf.tensor2d(b, [2, 2]) };
  const expectedNorm = norm([a, b]);
  const { gradients: clipped, globalNorm } = clipByGlobalNorm(gradients, 2);
  expect(globalNorm).toBeCloseTo(expectedNorm, 5);
  const scale = 2 / expectedNorm;
  expectClose(clipped.a!, a.map((v) => v * scale), { atol: 1e-6 });
  expectClose(clipped.b!, [[1 * scale, 2 * scale], [2 * scale, 6 * scale]], { atol: 1e-6 });
  expect(clipped.b!.shape).toEqual([2, 2]);
  const clippedNorm = norm([Array.from(clipped.a!.dataSync()), Array.from(clipped.b!.dataSync())]);
  expect(clippedNorm).toBeCloseTo(2, 5);
  // Inputs untouched and still owned by the caller.
  expect(gradients.a.isDisposed).toBe(false);
  expectClose(gradients.a, a);
  tf.dispose([gradients.a, gradients.b, clipped.a!, clipped.b!]);
});

test('clipByGlobalNorm leaves gradients alone below the threshold, for maxNorm <= 0 or Infinity', () => {
  const gradient = tf.tensor1d([0.3, 0.4]);
  for (const maxNorm of [1, 0, -1, Infinity, 0.1]) {
    const { gradients, globalNorm } = clipByGlobalNorm({ g: gradient }, maxNorm);
    expect(globalNorm).toBeCloseTo(0.5, 6);
    expect(gradients.g).not.toBe(gradient);
    expectClose(gradients.g!, maxNorm === 0.1 ? [0.06, 0.08] : [0.3, 0.4], { atol: 1e-7 });
    gradients.g!.dispose();
  }
  expect(clipByGlobalNorm({}, 1)).toEqual({ gradients: {}, globalNorm: 0 });
  expect(() => clipByGlobalNorm({ g: gradient }, Number.NaN)).toThrow(InvalidArgumentError);
  gradient.dispose();
});

test('clipByGlobalNorm does not scale a non-finite norm, and does not leak', () => {
  const bad = tf.tensor1d([Number.NaN, 1]);
  const { gradients, globalNorm } = clipByGlobalNorm({ bad }, 1);
  expect(Number.isNaN(globalNorm)).toBe(true);
  expect(gradients.bad!.dataSync()[1]).toBe(1);
  gradients.bad!.dispose();
  const good = { x: tf.ones([4]), y: tf.ones([2, 2]) };
  expectNoLeak(() => tf.dispose(Object.values(clipByGlobalNorm(good, 1).gradients)));
  expectNoLeak(() => tf.dispose(Object.values(clipByGlobalNorm(good, 100).gradients)));
  tf.dispose([bad, good.x, good.y]);
});
