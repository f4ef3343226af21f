// The kernels registered for wasm give the cpu backend's results, registration is idempotent, gather trains on wasm.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, test } from 'vitest';
import { onBackend, randomValues } from '../test-support.js';
import { expectClose, expectNoLeak } from '../testing/index.js';
import { fastKernelsActive } from './fast-kernels.js';
import { registerMissingKernels, WASM_KERNELS_REGISTERED_BY_ENGRAM } from './index.js';

const testBackend = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(testBackend);
});

/** Runs `fn` on the named backend and returns its (plain) result. */

const gatherGradient = () =>
  tf.tidy(() => {
    const params = tf.tensor2d(randomValues(5 * 3, 1), [5, 3]);
    const indices = tf.tensor1d([4, 0, 4, 2, 4], 'int32');
    const weights = tf.tensor2d(randomValues(5 * 3, 2), [5, 3]);
    return Array.from(tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, indices), weights)))(params).dataSync());
  });

describe('before registration', () => {
  test('wasm has no UnsortedSegmentSum or Conv2DBackpropFilter, so the gradient of gather fails there', async () => {
    await import('../index.js'); // the package root registers nothing on import
    for (const name of WASM_KERNELS_REGISTERED_BY_ENGRAM) expect(tf.getKernel(name, 'wasm')).toBeUndefined();
    expect(fastKernelsActive()).toBe(false);
    await expect(onBackend('wasm', gatherGradient)).rejects.toThrow(/UnsortedSegmentSum/);
  });
});

describe('after importing @engram/kernels/register', () => {
  test('the entry point registers both kernels for wasm only, and a second registration is a no-op', async () => {
    const before = tf.getKernelsForBackend('cpu').length;
    const wasmInitialised = tf.engine().registry.wasm !== undefined; // true on the wasm test project, false on cpu
    await import('../register.js');
    // The fast kernels need the initialised wasm heap: the entry registers them only when it is up.
    expect(fastKernelsActive()).toBe(wasmInitialised);
    for (const name of WASM_KERNELS_REGISTERED_BY_ENGRAM) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    expect(registerMissingKernels()).toEqual([]);
    expect(tf.getKernelsForBackend('cpu').length).toBe(before);
  });

  test('gradient of gather on wasm equals the cpu gradient (duplicates summed)', async () => {
    const wasm = await onBackend('wasm', gatherGradient);
    const cpu = await onBackend('cpu', gatherGradient);
    expectClose(wasm, cpu, { atol: 1e-6 });
    // Row 4 was gathered three times, rows 1 and 3 never.
    expect(wasm.slice(3, 6)).toEqual([0, 0, 0]);
    expect(wasm.slice(9, 12)).toEqual([0, 0, 0]);
  });

  test('UnsortedSegmentSum matches cpu for float and int32, skipping out-of-range ids', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor2d(randomValues(6 * 3, 3), [6, 3]);
        const ids = tf.tensor1d([2, 0, 2, -1, 5, 1], 'int32');
        const xInt = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3], 'int32');
        const idsInt = tf.tensor1d([1, 1, 0, 1], 'int32');
        return [
          Array.from(tf.unsortedSegmentSum(x, ids, 4).dataSync()),
          Array.from(tf.unsortedSegmentSum(xInt, idsInt, 3).dataSync()),
        ];
      });
    const wasm = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    for (let i = 0; i < 2; i++) expectClose(wasm[i] as number[], cpu[i] as number[], { atol: 1e-6, message: `case ${i}` });
    expect(wasm[1]).toEqual([7, 8, 9, 15, 18, 21, 0, 0, 0]);
  });

  test('UnsortedSegmentSum on wasm accepts rank-2 ids (a loop reference; cpu 4.22 mis-broadcasts this case)', async () => {
    const xValues = randomValues(2 * 3 * 2, 4);
    const ids = [0, 3, 1, 3, 3, 0];
    const result = await onBackend('wasm', () =>
      tf.tidy(() => {
        const sum = tf.unsortedSegmentSum(
          tf.tensor3d(xValues, [2, 3, 2]),
          tf.tensor2d(ids, [2, 3], 'int32') as unknown as tf.Tensor1D,
          4,
        );
        return { shape: sum.shape, values: Array.from(sum.dataSync()) };
      }),
    );
    const expected = new Array<number>(8).fill(0);
    ids.forEach((segment, row) => {
      for (let k = 0; k < 2; k++) expected[segment * 2 + k]! += xValues[row * 2 + k] as number;
    });
    expect(result.shape).toEqual([4, 2]);
    expectClose(result.values, expected, { atol: 1e-6 });
  });

  test('Conv2DBackpropFilter (conv1d and conv2d filter gradients) matches cpu', async () => {
    const run = () =>
      tf.tidy(() => {
        const x1 = tf.tensor3d(randomValues(2 * 7 * 3, 5), [2, 7, 3]);
        const filter1 = tf.tensor3d(randomValues(3 * 3 * 4, 6), [3, 3, 4]);
        const conv1 = tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv1d(x1, f as tf.Tensor3D, 2, 'same'))))(filter1);
        const x2 = tf.tensor4d(randomValues(1 * 5 * 6 * 2, 7), [1, 5, 6, 2]);
        const filter2 = tf.tensor4d(randomValues(2 * 3 * 2 * 3, 8), [2, 3, 2, 3]);
        const conv2 = tf.grad((f: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(x2, f as tf.Tensor4D, [2, 1], 'valid'), 0.5)),
        )(filter2);
        return [Array.from(conv1.dataSync()), Array.from(conv2.dataSync())];
      });
    const wasm = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    expectClose(wasm[0] as number[], cpu[0] as number[], { atol: 1e-4, message: 'conv1d' });
    expectClose(wasm[1] as number[], cpu[1] as number[], { atol: 1e-4, message: 'conv2d' });
  });

  test('the registered kernels do not leak on wasm', async () => {
    await onBackend('wasm', () => {
      expectNoLeak(() => void gatherGradient());
      const x = tf.tensor3d(randomValues(12, 9), [1, 4, 3]);
      const filter = tf.tensor3d(randomValues(12, 10), [2, 3, 2]);
      expectNoLeak(() => tf.grad((f: tf.Tensor) => tf.sum(tf.conv1d(x, f as tf.Tensor3D, 1, 'valid')))(filter).dispose());
      tf.dispose([x, filter]);
    });
  });
});
