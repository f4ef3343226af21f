// headScores and headApply against loops over the token-major layout, finite-difference gradients, broadcasting, bad input and leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { registerFastKernels, unregisterFastKernels } from '../kernels/fast-kernels.js';
import { randomTensor } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { HEAD_SCORES, headApply, headScores } from './head-matmul.js';

function referenceScores(x: tf.Tensor3D, y: tf.Tensor3D, heads: number): number[] {
  const [batch, l1, width] = x.shape;
  const l2 = y.shape[1];
  const d = width / heads;
  const xs = x.arraySync();
  const ys = y.arraySync();
  const out: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < l1; i++)
        for (let j = 0; j < l2; j++) {
          let sum = 0;
          const yRow = ys[y.shape[0] === 1 ? 0 : b]![j]!;
          for (let e = 0; e < d; e++) sum += xs[b]![i]![h * d + e]! * yRow[h * d + e]!;
          out.push(sum);
        }
  return out;
}

function referenceApply(p: tf.Tensor4D, y: tf.Tensor3D, heads: number): number[] {
  const [batch, , l1, l2] = p.shape;
  const width = y.shape[2];
  const d = width / heads;
  const ps = p.arraySync();
  const ys = y.arraySync();
  const out: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < l1; i++)
      for (let h = 0; h < heads; h++)
        for (let e = 0; e < d; e++) {
          let sum = 0;
          for (let j = 0; j < l2; j++) sum += ps[b]![h]![i]![j]! * ys[b]![j]![h * d + e]!;
          out.push(sum);
        }
  return out;
}

// Odd sizes, one head, many heads, head width 1, key length 1, lengths past a 4x8 tile and a 256 inner block.
const cases: Array<[batch: number, l1: number, l2: number, heads: number, headDim: number]> = [
  [1, 1, 1, 1, 1],
  [2, 3, 5, 2, 3],
  [3, 7, 1, 4, 1],
  [2, 9, 17, 3, 5],
  [1, 5, 300, 1, 260],
];

test('headScores matches the loop, with y of the same batch or of batch 1', () => {
  cases.forEach(([batch, l1, l2, heads, d], index) => {
    const x = randomTensor([batch, l1, heads * d], 10 + index) as tf.Tensor3D;
    for (const yBatch of [batch, 1]) {
      const y = randomTensor([yBatch, l2, heads * d], 20 + index) as tf.Tensor3D;
      const out = headScores(x, y, heads);
      expect(out.shape).toEqual([batch, heads, l1, l2]);
      expectClose(out.reshape([-1]), referenceScores(x, y, heads), { atol: 1e-4, rtol: 1e-4 });
      tf.dispose([y, out]);
    }
    x.dispose();
  });
});

test('headApply matches the loop', () => {
  cases.forEach(([batch, l1, l2, heads, d], index) => {
    const p = randomTensor([batch, heads, l1, l2], 30 + index) as tf.Tensor4D;
    const y = randomTensor([batch, l2, heads * d], 40 + index) as tf.Tensor3D;
    const out = headApply(p, y, heads);
    expect(out.shape).toEqual([batch, l1, heads * d]);
    expectClose(out.reshape([-1]), referenceApply(p, y, heads), { atol: 1e-4, rtol: 1e-4 });
    tf.dispose([p, y, out]);
  });
});

test('gradients match finite differences (including the transposed product and batch-1 broadcasting)', () => {
  const x = randomTensor([2, 3, 4], 50) as tf.Tensor3D;
  const y = randomTensor([2, 5, 4], 51) as tf.Tensor3D;
  const shared = randomTensor([1, 5, 4], 52) as tf.Tensor3D;
  const p = randomTensor([2, 2, 3, 5], 53) as tf.Tensor4D;
  const weightsScores = randomTensor([2, 2, 3, 5], 54);
  const weightsApply = randomTensor([2, 3, 4], 55);
  checkGradients((a, b) => tf.sum(tf.mul(headScores(a as tf.Tensor3D, b as tf.Tensor3D, 2), weightsScores)), [x, y]);
  checkGradients((a, b) => tf.sum(tf.mul(headScores(a as tf.Tensor3D, b as tf.Tensor3D, 2), weightsScores)), [x, shared]);
  checkGradients((a, b) => tf.sum(tf.mul(headApply(a as tf.Tensor4D, b as tf.Tensor3D, 2), weightsApply)), [p, y]);
  tf.dispose([x, y, shared, p, weightsScores, weightsApply]);
});

test('rejects bad shapes, dtypes and head counts with the parameter named', () => {
  const x = tf.zeros([2, 3, 4]) as tf.Tensor3D;
  expect(() => headScores(x, tf.zeros([2, 5, 6]) as tf.Tensor3D, 2)).toThrow(/headScores.*y/s);
  expect(() => headScores(x, tf.zeros([3, 5, 4]) as tf.Tensor3D, 2)).toThrow(/y/);
  expect(() => headScores(x, x, 3)).toThrow(/heads/);
  expect(() => headApply(tf.zeros([2, 2, 3, 4]) as tf.Tensor4D, tf.zeros([2, 5, 4]) as tf.Tensor3D, 2)).toThrow(/headApply.*p/s);
  expect(() => headScores(tf.zeros([2, 3, 4], 'int32') as tf.Tensor3D, x, 2)).toThrow(/float32/);
  x.dispose();
});

test('does not leak (forward and backward)', () => {
  const x = randomTensor([2, 3, 4], 60) as tf.Tensor3D;
  const y = randomTensor([1, 5, 4], 61) as tf.Tensor3D;
  const p = randomTensor([2, 2, 3, 5], 62) as tf.Tensor4D;
  const v = randomTensor([2, 5, 4], 63) as tf.Tensor3D;
  expectNoLeak(() => headScores(x, y, 2).dispose());
  expectNoLeak(() => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(headScores(a as tf.Tensor3D, b as tf.Tensor3D, 2)))([x, y])));
  expectNoLeak(() => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(headApply(a as tf.Tensor4D, b as tf.Tensor3D, 2)))([p, v])));
  tf.dispose([x, y, p, v]);
});

describe('on the wasm GEMM kernels (registerFastKernels)', () => {
  /** Values and gradients of both ops over the odd-shape cases, with y shared (batch 1) and not. */
  const run = () =>
    tf.tidy(() => {
      const results: number[][] = [];
      cases.forEach(([batch, l1, l2, heads, d], index) => {
        const x = randomTensor([batch, l1, heads * d], 70 + index) as tf.Tensor3D;
        const p = randomTensor([batch, heads, l1, l2], 80 + index) as tf.Tensor4D;
        const weights = randomTensor([batch, heads, l1, l2], 90 + index);
        const weightsApply = randomTensor([batch, l1, heads * d], 95 + index);
        for (const yBatch of [batch, 1]) {
          const y = randomTensor([yBatch, l2, heads * d], 100 + index) as tf.Tensor3D;
          const [dx, dy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(headScores(a as tf.Tensor3D, b as tf.Tensor3D, heads), weights)))([x, y]);
          results.push(Array.from(headScores(x, y, heads).dataSync()), Array.from(dx!.dataSync()), Array.from(dy!.dataSync()));
        }
        const values = randomTensor([batch, l2, heads * d], 110 + index) as tf.Tensor3D;
        const [dp, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(headApply(a as tf.Tensor4D, b as tf.Tensor3D, heads), weightsApply)))([p, values]);
        results.push(Array.from(headApply(p, values, heads).dataSync()), Array.from(dp!.dataSync()), Array.from(dv!.dataSync()));
      });
      return results;
    });

  test('values and gradients equal the cpu backend; unregistering restores the fallback; no leak', async () => {
    const backend = tf.getBackend();
    if (backend !== 'wasm') return; // the kernels exist for wasm only; the cpu project runs the fallback above
    registerFastKernels();
    try {
      expect(tf.getKernel(HEAD_SCORES, 'wasm')).toBeDefined();
      const wasm = run();
      await tf.setBackend('cpu');
      const cpu = run();
      await tf.setBackend(backend);
      wasm.forEach((values, item) => expectClose(values, cpu[item] as number[], { atol: 1e-4, rtol: 1e-4 }));
      const x = randomTensor([2, 3, 4], 120) as tf.Tensor3D;
      const y = randomTensor([1, 5, 4], 121) as tf.Tensor3D;
      expectNoLeak(() => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(headScores(a as tf.Tensor3D, b as tf.Tensor3D, 2)))([x, y])));
      tf.dispose([x, y]);
    } finally {
      unregisterFastKernels();
    }
    expect(tf.getKernel(HEAD_SCORES, 'wasm')).toBeUndefined();
  });
});
