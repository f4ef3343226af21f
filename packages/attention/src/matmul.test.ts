// Tests of the explicit-transpose matrix products: values equal tf.matMul, gradients equal finite differences.
import * as tf from '@tensorflow/tfjs';
import { checkGradients, expectClose, expectNoLeak } from '@engram/kernels/testing';
import { describe, expect, test } from 'vitest';
import { seededNormal } from './init.js';
import { batchMatMul, matMul } from './matmul.js';

describe('matMul / batchMatMul', () => {
  test('values equal tf.matMul', () => {
    const a = seededNormal([5, 3], 1, 1, 'a') as tf.Tensor2D;
    const b = seededNormal([3, 4], 1, 1, 'b') as tf.Tensor2D;
    const c = seededNormal([2, 5, 3], 1, 1, 'c') as tf.Tensor3D;
    const d = seededNormal([2, 3, 4], 1, 1, 'd') as tf.Tensor3D;
    expectNoLeak(() => {
      tf.tidy(() => {
        expectClose(matMul(a, b), tf.matMul(a, b), { atol: 1e-6, rtol: 1e-6 });
        expectClose(batchMatMul(c, d), tf.matMul(c, d), { atol: 1e-6, rtol: 1e-6 });
      });
    });
    tf.dispose([a, b, c, d]);
  });

  test('gradients equal finite differences and tf.matMul gradients', () => {
    const a = seededNormal([3, 2], 1, 2, 'a');
    const b = seededNormal([2, 4], 1, 2, 'b');
    const weights = seededNormal([3, 4], 1, 2, 'w');
    checkGradients((x, y) => tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D), weights)), [a, b], { epsilon: 1e-2, atol: 1e-3 });
    const c = seededNormal([2, 3, 2], 1, 3, 'c');
    const d = seededNormal([2, 2, 4], 1, 3, 'd');
    const weights3 = seededNormal([2, 3, 4], 1, 3, 'w');
    checkGradients((x, y) => tf.sum(tf.mul(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D), weights3)), [c, d], { epsilon: 1e-2, atol: 1e-3 });
    const ours = tf.grads((x, y) => tf.sum(tf.mul(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D), weights3)))([c, d]);
    const theirs = tf.grads((x, y) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D), weights3)))([c, d]);
    ours.forEach((gradient, index) => expectClose(gradient, theirs[index]!, { atol: 1e-5, rtol: 1e-5 }));
    expect(ours[0]?.shape).toEqual([2, 3, 2]);
    tf.dispose([a, b, weights, c, d, weights3, ...ours, ...theirs]);
  });
});
