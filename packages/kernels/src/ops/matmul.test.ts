// matMul, batchMatMul and groupedMatMul against plain triple loops, finite differences and tfjs's own matMul gradient.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { offset, randomTensor } from '../test-support.js';
import { fastKernelsActive, registerFastKernels, unregisterFastKernels } from '../kernels/fast-kernels.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { batchMatMul, groupedMatMul, matMul } from './matmul.js';

/** `out[g, i, j] = sum_k a[g, i, k] b[g, k, j]` in float64 over plain arrays; `groups` = 1 for 2-D operands. */
function referenceProduct(a: tf.Tensor, b: tf.Tensor, groups: number, rows: number, inner: number, columns: number): number[] {
  const left = a.dataSync();
  const right = b.dataSync();
  const out: number[] = [];
  for (let g = 0; g < groups; g++)
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < columns; j++) {
        let total = 0;
        for (let k = 0; k < inner; k++) {
          total += (left[offset([groups, rows, inner], g, i, k)] as number) * (right[offset([groups, inner, columns], g, k, j)] as number);
        }
        out.push(total);
      }
  return out;
}

const grouped = [
  ['batchMatMul', batchMatMul],
  ['groupedMatMul', groupedMatMul],
] as const;

// On wasm every test runs twice: with tfjs's stock matmul kernels and with the fast kernels (registerFastKernels).
const kernelModes = tf.getBackend() === 'wasm' ? (['stock', 'fast'] as const) : (['stock'] as const);

describe.each(kernelModes)('%s kernels', (mode) => {
  beforeAll(() => {
    if (mode === 'fast') registerFastKernels();
  });
  afterAll(() => unregisterFastKernels());

  test('the intended kernels are registered', () => {
    expect(fastKernelsActive()).toBe(mode === 'fast');
  });

  describe('matMul', () => {
    test('matches a triple-loop reference', () => {
      const a = randomTensor([5, 3], 1) as tf.Tensor2D;
      const b = randomTensor([3, 4], 2) as tf.Tensor2D;
      const product = matMul(a, b);
      expect(product.shape).toEqual([5, 4]);
      expectClose(product.reshape([-1]), referenceProduct(a, b, 1, 5, 3, 4), { atol: 1e-6, rtol: 1e-6 });
      tf.dispose([a, b, product]);
    });

    test('gradients match finite differences and tfjs matMul gradients', () => {
      const a = randomTensor([3, 2], 3);
      const b = randomTensor([2, 4], 4);
      const weights = randomTensor([3, 4], 5);
      const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D), weights));
      checkGradients(loss, [a, b], { epsilon: 1e-2, atol: 1e-3 });
      const ours = tf.grads(loss)([a, b]);
      const theirs = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), weights)))([a, b]);
      expect(ours.map((gradient) => gradient.shape)).toEqual([[3, 2], [2, 4]]);
      ours.forEach((gradient, index) => expectClose(gradient, theirs[index] as tf.Tensor, { atol: 1e-6, rtol: 1e-6 }));
      tf.dispose([a, b, weights, ...ours, ...theirs]);
    });

    test('rejects operands of the wrong rank, dtype or inner size', () => {
      const a = tf.zeros([2, 3]) as tf.Tensor2D;
      const b = tf.zeros([4, 2]) as tf.Tensor2D;
      const ints = tf.zeros([3, 2], 'int32') as tf.Tensor2D;
      expect(() => matMul(a, b)).toThrow(InvalidArgumentError);
      expect(() => matMul(a, b)).toThrow(/K = 3.*shape \[4, 2\]/);
      expect(() => matMul(a, ints)).toThrow(/dtype float32/);
      const cube = tf.zeros([1, 2, 3]) as unknown as tf.Tensor2D;
      expect(() => matMul(cube, b)).toThrow(/rank-2/);
      tf.dispose([a, b, ints, cube]);
    });

    test('does not leak (forward and backward)', () => {
      const a = randomTensor([2, 3], 6) as tf.Tensor2D;
      const b = randomTensor([3, 2], 7) as tf.Tensor2D;
      expectNoLeak(() => matMul(a, b).dispose());
      expectNoLeak(() => tf.dispose(tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b])));
      tf.dispose([a, b]);
    });
  });

  describe.each(grouped)('%s', (name, product) => {
    test('matches a triple-loop reference per group', () => {
      const a = randomTensor([2, 5, 3], 11) as tf.Tensor3D;
      const b = randomTensor([2, 3, 4], 12) as tf.Tensor3D;
      const result = product(a, b);
      expect(result.shape).toEqual([2, 5, 4]);
      expectClose(result.reshape([-1]), referenceProduct(a, b, 2, 5, 3, 4), { atol: 1e-6, rtol: 1e-6 });
      tf.dispose([a, b, result]);
    });

    test('gradients match finite differences and tfjs matMul gradients', () => {
      const a = randomTensor([2, 3, 2], 13);
      const b = randomTensor([2, 2, 4], 14);
      const weights = randomTensor([2, 3, 4], 15);
      const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(product(x as tf.Tensor3D, y as tf.Tensor3D), weights));
      checkGradients(loss, [a, b], { epsilon: 1e-2, atol: 1e-3 });
      const ours = tf.grads(loss)([a, b]);
      const theirs = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), weights)))([a, b]);
      expect(ours.map((gradient) => gradient.shape)).toEqual([[2, 3, 2], [2, 2, 4]]);
      ours.forEach((gradient, index) => expectClose(gradient, theirs[index] as tf.Tensor, { atol: 1e-6, rtol: 1e-6 }));
      tf.dispose([a, b, weights, ...ours, ...theirs]);
    });

    test('rejects operands of the wrong rank, dtype, inner size or group count', () => {
      const a = tf.zeros([2, 3, 4]) as tf.Tensor3D;
      const wrongInner = tf.zeros([2, 5, 4]) as tf.Tensor3D;
      const wrongGroups = tf.zeros([1, 4, 2]) as tf.Tensor3D;
      const ints = tf.zeros([2, 4, 2], 'int32') as tf.Tensor3D;
      const flat = tf.zeros([3, 4]) as unknown as tf.Tensor3D;
      expect(() => product(a, wrongInner)).toThrow(new RegExp(`${name}.*K = 4`));
      expect(() => product(a, wrongGroups)).toThrow(/G = 2 groups/);
      expect(() => product(a, ints)).toThrow(InvalidArgumentError);
      expect(() => product(flat, a)).toThrow(/rank-3/);
      tf.dispose([a, wrongInner, wrongGroups, ints, flat]);
    });

    test('does not leak (forward and backward)', () => {
      const a = randomTensor([2, 2, 3], 16) as tf.Tensor3D;
      const b = randomTensor([2, 3, 2], 17) as tf.Tensor3D;
      expectNoLeak(() => product(a, b).dispose());
      expectNoLeak(() => tf.dispose(tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(product(x as tf.Tensor3D, y as tf.Tensor3D)))([a, b])));
      tf.dispose([a, b]);
    });
  });

});

/** BatchMatMul kernels run by `run`: whether their inner sizes agree (a transpose flag shows up as disagreeing sizes). */
async function innerSizesAgree(run: () => tf.Tensor[]): Promise<boolean[]> {
  const profile = await tf.profile(() => tf.dispose(run()));
  const products = profile.kernels.filter((kernel) => kernel.name === 'BatchMatMul');
  expect(products.length).toBeGreaterThanOrEqual(3);
  return products.map(({ inputShapes }) => {
    const [left, right] = inputShapes as [number[], number[]];
    return left[left.length - 1] === right[right.length - 2];
  });
}

test('with the stock kernels the backward pass runs only untransposed products (every BatchMatMul has inner sizes that agree)', async () => {
  expect(fastKernelsActive()).toBe(false);
  // A transpose flag shows up as operands whose inner sizes disagree, e.g. dy [3, 4] with b [2, 4] for dy b^T.
  const a = randomTensor([3, 2], 21) as tf.Tensor2D;
  const b = randomTensor([2, 4], 22) as tf.Tensor2D;
  const c = randomTensor([2, 3, 2], 23) as tf.Tensor3D;
  const d = randomTensor([2, 2, 5], 24) as tf.Tensor3D;
  const ours = [
    await innerSizesAgree(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b])),
    await innerSizesAgree(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D)))([c, d])),
    await innerSizesAgree(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(groupedMatMul(x as tf.Tensor3D, y as tf.Tensor3D)))([c, d])),
  ];
  for (const flags of ours) expect(flags.every(Boolean)).toBe(true);
  // The check can fail: tfjs's own gradient uses the flags.
  const theirs = await innerSizesAgree(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y)))([a, b]));
  expect(theirs.some((agree) => !agree)).toBe(true);
  tf.dispose([a, b, c, d]);
});

test.skipIf(tf.getBackend() !== 'wasm')('with the fast kernels the backward pass uses transpose flags and runs no Transpose', async () => {
  registerFastKernels();
  try {
    const a = randomTensor([3, 2], 25) as tf.Tensor2D;
    const b = randomTensor([2, 4], 26) as tf.Tensor2D;
    const c = randomTensor([2, 3, 2], 27) as tf.Tensor3D;
    const d = randomTensor([2, 2, 5], 28) as tf.Tensor3D;
    const backward2d = () => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    const backward3d = () => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D)))([c, d]);
    for (const backward of [backward2d, backward3d]) {
      expect((await innerSizesAgree(backward)).some((agree) => !agree)).toBe(true);
      const profile = await tf.profile(() => tf.dispose(backward()));
      expect(profile.kernels.map((kernel) => kernel.name)).not.toContain('Transpose');
    }
    tf.dispose([a, b, c, d]);
  } finally {
    unregisterFastKernels();
  }
});
