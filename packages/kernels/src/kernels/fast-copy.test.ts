// The heap-copy kernels for wasm (Slice, SplitV, GatherV2) against the cpu backend: values on odd shapes and dtypes, gradients, errors, leaks.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { onBackend, randomValues } from '../test-support.js';
import { expectNoLeak } from '../testing/index.js';
import { fastKernelsActive, registerFastKernels, unregisterFastKernels } from './fast-kernels.js';
import { registerMissingKernels } from './index.js';

const testBackend = tf.getBackend();
const onWasm = testBackend === 'wasm';

const sizeOf = (shape: readonly number[]): number => shape.reduce((product, extent) => product * extent, 1);


type Dtype = 'float32' | 'int32' | 'bool';

/** A tensor of `shape` and `dtype` with distinct-looking values from `seed`. */
function input(shape: number[], dtype: Dtype, seed: number): tf.Tensor {
  const values = randomValues(sizeOf(shape), seed);
  if (dtype === 'float32') return tf.tensor(values, shape);
  if (dtype === 'int32') return tf.tensor(Array.from(values, (value) => Math.round(value * 1000)), shape, 'int32');
  return tf.greater(tf.tensor(values, shape), 0);
}

interface Result {
  shape: number[];
  dtype: string;
  values: number[];
}

/** Runs `fn` in a tidy scope and returns its plain (tensor-free) result. */
function tidyPlain<T>(fn: () => T): T {
  let result: T | undefined;
  tf.tidy(() => {
    result = fn();
  });
  return result as T;
}

const resultOf = (tensor: tf.Tensor): Result => ({ shape: tensor.shape, dtype: tensor.dtype, values: Array.from(tensor.dataSync()) });

/** Runs `cases` on wasm (fast kernels) and on cpu; every result must be identical (these kernels only copy). */
async function expectSameAsCpu(name: string, run: () => Result[]): Promise<void> {
  const fast = await onBackend('wasm', () => {
    expect(fastKernelsActive()).toBe(true);
    return tidyPlain(run);
  });
  const cpu = await onBackend('cpu', () => tidyPlain(run));
  expect(fast.length).toBe(cpu.length);
  fast.forEach((result, index) => expect(result, `${name} case ${index}`).toEqual(cpu[index]));
}

// The kernels exist for wasm only; on the cpu test project this file has nothing to run.
describe.skipIf(!onWasm)('fast wasm Slice, SplitV and GatherV2', () => {
  beforeAll(() => {
    registerMissingKernels(); // the embedding gradient's UnsortedSegmentSum
    registerFastKernels();
  });
  afterAll(() => unregisterFastKernels());

  test('Slice: ranks 1-5, partial and whole axes, -1 sizes, empty boxes, float32 / int32 / bool, equal cpu', async () => {
    const cases: [number[], number[], number[], Dtype][] = [
      [[11], [3], [5], 'float32'],
      [[11], [0], [-1], 'int32'],
      [[7, 9], [2, 3], [4, 5], 'float32'],
      [[7, 9], [1, 0], [5, -1], 'bool'], // whole rows: one run
      [[5, 6, 7], [1, 2, 3], [3, 3, 3], 'int32'],
      [[5, 6, 7], [0, 1, 0], [5, 4, 7], 'float32'], // trailing axis whole: runs of 4 x 7
      [[2, 3, 65, 64], [0, 0, 1, 0], [2, 3, 64, 64], 'float32'], // the rel-shift slice of the padded scores
      [[2, 3, 64, 65], [0, 0, 0, 1], [2, 3, 64, 64], 'float32'],
      [[3, 4, 5, 6], [1, 1, 1, 1], [-1, 2, -1, 3], 'bool'],
      [[2, 3, 4, 5, 3], [1, 0, 2, 1, 0], [1, 3, 2, 3, 2], 'float32'],
      [[4, 5], [2, 1], [0, 3], 'float32'], // empty
      [[4, 5], [4, 0], [0, 5], 'int32'], // empty at the end
    ];
    await expectSameAsCpu('slice', () =>
      cases.map(([shape, begin, size, dtype], index) => resultOf(tf.slice(input(shape, dtype, 10 + index), begin, size))),
    );
  });

  test('SplitV: a count, sizes with -1, negative axes, every rank and dtype, equal cpu', async () => {
    const cases: [number[], number | number[], number, Dtype][] = [
      [[12], 3, 0, 'float32'],
      [[6, 9], [2, -1, 4], 1, 'int32'],
      [[6, 9], [1, 5], 0, 'bool'],
      [[4, 6, 10], 2, -1, 'float32'], // the key / value halves of a fused projection
      [[4, 6, 10], [0, 6], 1, 'float32'], // an empty part
      [[2, 3, 5, 4], [2, 2, 1], 2, 'int32'],
      [[2, 3, 5, 4, 3], 3, -1, 'float32'],
    ];
    await expectSameAsCpu('splitV', () =>
      cases.flatMap(([shape, splits, axis, dtype], index) => tf.split(input(shape, dtype, 40 + index), splits, axis).map(resultOf)),
    );
  });

  test('GatherV2: every axis, 0-D / 1-D / 2-D / empty / repeated indices, float32 / int32 / bool, batchDims 1 and 2, equal cpu', async () => {
    const cases: [number[], number[], number[], number, Dtype, number][] = [
      [[13, 7], [12, 0, 5, 5, 3], [5], 0, 'float32', 0], // embedding rows, repeated
      [[13, 7], [4, 1, 0, 9, 12, 2], [2, 3], 0, 'int32', 0], // 2-D ids: [batch, tokens]
      [[13, 7], [6], [], 0, 'float32', 0], // a scalar index drops the axis
      [[13, 7], [], [0], 0, 'float32', 0], // no index at all
      [[5, 6, 7], [3, 0, 5, 1], [4], 1, 'float32', 0],
      [[5, 6, 7], [6, 0, 6], [3], -1, 'bool', 0],
      [[3, 4, 5, 2], [1, 4, 0], [3], 2, 'int32', 0],
      [[3, 5, 2], [4, 0, 1, 2, 3, 0], [3, 2], 1, 'float32', 1], // batchDims 1 (the stock kernel gets this one wrong)
      [[2, 3, 4, 5], [3, 0, 2, 2, 1, 0, 3, 3, 0, 1, 1, 2], [2, 3, 2], 3, 'int32', 2], // batchDims 2, axis past them
      [[2, 3, 4], [2, 0, 1, 1], [2, 2], 2, 'float32', 1], // batchDims 1 with an outer axis between
    ];
    await expectSameAsCpu('gather', () =>
      cases.map(([shape, indices, indicesShape, axis, dtype, batchDims], index) =>
        resultOf(tf.gather(input(shape, dtype, 60 + index), tf.tensor(indices, indicesShape, 'int32'), axis, batchDims)),
      ),
    );
  });

  test('an index out of range is refused as by the stock kernel, naming the index and the range, and leaks nothing', async () => {
    await onBackend('wasm', () => {
      const table = tf.zeros([4, 3]);
      for (const bad of [4, -1, 1000]) {
        const ids = tf.tensor1d([0, bad, 1], 'int32');
        const before = tf.memory().numTensors;
        expect(() => tf.gather(table, ids)).toThrow(`GatherV2: the index value ${bad} is not in [0, 3]`);
        expect(tf.memory().numTensors).toBe(before);
        ids.dispose();
      }
      table.dispose();
    });
  });

  test('gradients through slice, split and gather (an embedding lookup with repeated ids) equal cpu, without leaks', async () => {
    const run = (): Result[] => {
      const x = input([6, 5, 4], 'float32', 90);
      const weights = input([3, 2, 4], 'float32', 91);
      const sliced = tf.grad((value: tf.Tensor) => tf.sum(tf.mul(tf.slice(value, [2, 1, 0], [3, 2, 4]), weights)))(x);
      const split = tf.grad((value: tf.Tensor) => {
        const [first, second] = tf.split(value, [1, 3], -1) as [tf.Tensor, tf.Tensor];
        return tf.add(tf.sum(tf.mul(first, 2)), tf.sum(tf.square(second)));
      })(x);
      const table = input([9, 4], 'float32', 92);
      const ids = tf.tensor2d([[3, 3, 0], [8, 3, 1]], [2, 3], 'int32');
      const rows = input([2, 3, 4], 'float32', 93);
      const gathered = tf.grad((value: tf.Tensor) => tf.sum(tf.mul(tf.gather(value, ids), rows)))(table);
      return [resultOf(sliced), resultOf(split), resultOf(gathered)];
    };
    const fast = await onBackend('wasm', () => tidyPlain(run));
    const cpu = await onBackend('cpu', () => tidyPlain(run));
    fast.forEach((result, index) => {
      expect(result.shape).toEqual(cpu[index]?.shape);
      result.values.forEach((value, position) => expect(value).toBeCloseTo(cpu[index]?.values[position] as number, 5));
    });
    await onBackend('wasm', () => {
      const x = input([6, 5, 4], 'float32', 94);
      const ids = tf.tensor1d([5, 0, 5], 'int32');
      expectNoLeak(() => tf.slice(x, [1, 0, 1], [2, -1, 2]).dispose());
      expectNoLeak(() => tf.dispose(tf.split(x, 2, 2)));
      expectNoLeak(() => tf.gather(x, ids, 0).dispose());
      expectNoLeak(() => tf.grad((value: tf.Tensor) => tf.sum(tf.gather(value, ids)))(x).dispose());
      tf.dispose([x, ids]);
    });
  });

  test('unregistering puts the stock kernels back, and they give the same results', async () => {
    const run = (): Result[] => {
      const x = input([5, 6, 7], 'float32', 120);
      return [resultOf(tf.slice(x, [1, 2, 3], [2, 3, 4])), ...tf.split(x, 3, 1).map(resultOf), resultOf(tf.gather(x, tf.tensor1d([4, 0], 'int32'), 0))];
    };
    const fast = await onBackend('wasm', () => tidyPlain(run));
    unregisterFastKernels();
    try {
      const stock = await onBackend('wasm', () => {
        expect(fastKernelsActive()).toBe(false);
        return tidyPlain(run);
      });
      expect(fast).toEqual(stock);
    } finally {
      registerFastKernels();
    }
  });
});
