// The SIMD GEMM kernels for wasm against float64 loops and the cpu backend: values, gradients, fused epilogues, registration.
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BackendUnavailableError } from '../errors.js';
import { onBackend, randomValues } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import {
  FAST_WASM_KERNELS,
  fastKernelInstructions,
  fastKernelsActive,
  registerFastKernels,
  setFastKernelInstructions,
  unregisterFastKernels,
} from './fast-kernels.js';
import { simplifyPermutation } from './fast-transpose.js';
import { allowRelaxedSimd, GEMM_INSTRUCTIONS, instantiateGemm, type GemmInstructions } from './gemm.js';
import type { WasmHeapBackend } from './wasm-backend.js';
import { webAssembly } from './webassembly.js';

/** A dense row-major array with its shape. */
interface Dense {
  values: Float32Array;
  shape: number[];
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((product, extent) => product * extent, 1);

function dense(shape: number[], seed: number): Dense {
  return { values: randomValues(sizeOf(shape), seed), shape };
}

/**
 * `op(a) op(b)` in float64 with numpy-style broadcasting of the batch axes, op = transpose of the last two axes when
 * its flag is set: the reference every kernel result is compared with.
 */
function naiveMatMul(a: Dense, b: Dense, transposeA: boolean, transposeB: boolean): Dense {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = a.shape[transposeA ? ra - 1 : ra - 2] as number;
  const k = a.shape[transposeA ? ra - 2 : ra - 1] as number;
  const n = b.shape[transposeB ? rb - 2 : rb - 1] as number;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const padA = [...new Array<number>(rank - batchA.length).fill(1), ...batchA];
  const padB = [...new Array<number>(rank - batchB.length).fill(1), ...batchB];
  const batch = padA.map((extent, axis) => Math.max(extent, padB[axis] as number));
  const out = new Float32Array(sizeOf(batch) * m * n);
  for (let g = 0; g < sizeOf(batch); g++) {
    let rest = g;
    let indexA = 0;
    let indexB = 0;
    let strideA = 1;
    let strideB = 1;
    for (let axis = rank - 1; axis >= 0; axis--) {
      const coordinate = rest % (batch[axis] as number);
      rest = Math.floor(rest / (batch[axis] as number));
      if (padA[axis] !== 1) indexA += coordinate * strideA;
      if (padB[axis] !== 1) indexB += coordinate * strideB;
      strideA *= padA[axis] as number;
      strideB *= padB[axis] as number;
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let total = 0;
        for (let p = 0; p < k; p++) {
          const left = a.values[indexA * m * k + (transposeA ? p * m + i : i * k + p)] as number;
          const right = b.values[indexB * k * n + (transposeB ? j * k + p : p * n + j)] as number;
          total += left * right;
        }
        out[(g * m + i) * n + j] = total;
      }
    }
  }
  return { values: out, shape: [...batch, m, n] };
}

/** Shape of an operand holding op(x) = [rows, columns] (stored transposed when `transposed`). */
const stored = (batch: number[], rows: number, columns: number, transposed: boolean): number[] =>
  transposed ? [...batch, columns, rows] : [...batch, rows, columns];

const LAYOUTS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

const testBackend = tf.getBackend();
const onWasm = testBackend === 'wasm';


/** Runs a product on wasm with the fast kernels and returns its shape and values. */
function product(a: Dense, b: Dense, transposeA: boolean, transposeB: boolean): Dense {
  return tf.tidy(() => {
    const result = tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape), transposeA, transposeB);
    return { values: result.dataSync() as Float32Array, shape: result.shape };
  });
}

function expectProduct(a: Dense, b: Dense, transposeA: boolean, transposeB: boolean, message: string): void {
  const expected = naiveMatMul(a, b, transposeA, transposeB);
  const actual = product(a, b, transposeA, transposeB);
  expect(actual.shape, message).toEqual(expected.shape);
  expectClose(actual.values, expected.values, { atol: 1e-4, rtol: 1e-4, message });
}

// The kernels exist for wasm only; on the cpu test project this file has nothing to run. Every product test runs
// on both GEMM builds (SIMD128 and relaxed SIMD's fused multiply-add; Node 20 validates the latter once allowed).
describe.skipIf(!onWasm).each(GEMM_INSTRUCTIONS)('fast wasm matmul kernels (%s GEMM)', (instructions) => {
  let previous: GemmInstructions = 'simd128';
  beforeAll(async () => {
    registerFastKernels();
    previous = fastKernelInstructions();
    if (instructions === 'relaxed-simd') expect(allowRelaxedSimd()).toBe(true);
    expect(await setFastKernelInstructions(instructions)).toBe(instructions);
  });
  afterAll(async () => {
    await setFastKernelInstructions(previous);
    unregisterFastKernels();
  });

  test('the GEMM on the heap is the build asked for', () => {
    expect(fastKernelInstructions()).toBe(instructions);
  });

  test('registration replaces both kernels with the GEMM ones and is idempotent', () => {
    expect(fastKernelsActive()).toBe(true);
    const registered = FAST_WASM_KERNELS.map((name) => tf.getKernel(name, 'wasm'));
    registerFastKernels();
    expect(FAST_WASM_KERNELS.map((name) => tf.getKernel(name, 'wasm'))).toEqual(registered);
  });

  test.each([
    [1, 1, 1],
    [3, 5, 7],
    [17, 33, 65],
    [5, 9, 300], // K > 256 crosses the k-block
    [6, 530, 11], // N > 512 crosses the column block, N % 8 = 2
    [13, 7, 257],
  ])('M=%i N=%i K=%i: all four layouts, 2-D and batched, equal a float64 loop', (m, n, k) => {
    for (const [transposeA, transposeB] of LAYOUTS) {
      const flags = `transposeA=${transposeA} transposeB=${transposeB}`;
      const a2 = dense(stored([], m, k, transposeA), m * 7 + k);
      const b2 = dense(stored([], k, n, transposeB), n * 11 + k);
      expectProduct(a2, b2, transposeA, transposeB, `2-D ${flags}`);
      const a3 = dense(stored([3], m, k, transposeA), m + 1);
      const b3 = dense(stored([3], k, n, transposeB), n + 2);
      expectProduct(a3, b3, transposeA, transposeB, `batch 3 ${flags}`);
    }
  });

  test('broadcast batch dimensions: shared operand of batch 1, rank-2 against rank-3, and general broadcasting', () => {
    for (const [transposeA, transposeB] of LAYOUTS) {
      const flags = `transposeA=${transposeA} transposeB=${transposeB}`;
      const cases: [number[], number[]][] = [
        [[4], []], // b is 2-D: rows of all batches in one product when a is not transposed
        [[], [4]], // a is 2-D
        [[4], [1]],
        [[1], [4]],
        [[2, 1], [3]], // general broadcasting: one product per output batch
        [[2, 1, 3], [1, 2, 1]],
      ];
      for (const [batchA, batchB] of cases) {
        const a = dense(stored(batchA, 5, 6, transposeA), 31);
        const b = dense(stored(batchB, 6, 9, transposeB), 32);
        expectProduct(a, b, transposeA, transposeB, `batch ${JSON.stringify(batchA)} x ${JSON.stringify(batchB)} ${flags}`);
      }
    }
  });

  test('empty products and K = 0 (a zero product) match tfjs on cpu', async () => {
    const run = () =>
      tf.tidy(() =>
        [
          tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4])),
          tf.matMul(tf.zeros([0, 3]), tf.ones([3, 4])),
          tf.matMul(tf.zeros([2, 0, 3]), tf.ones([2, 3, 4])),
        ].map((result) => ({ shape: result.shape, values: Array.from(result.dataSync()) })),
      );
    expect(await onBackend('wasm', run)).toEqual(await onBackend('cpu', run));
  });

  test('_FusedMatMul: bias (per column, scalar, [1, N]) and linear, relu, relu6, leakyrelu equal the cpu backend', async () => {
    const cases: { bias: number[] | null; activation: 'linear' | 'relu' | 'relu6' | 'leakyrelu'; alpha?: number }[] = [
      { bias: null, activation: 'linear' },
      { bias: [9], activation: 'relu' },
      { bias: [1], activation: 'linear' },
      { bias: [1, 9], activation: 'relu6' },
      { bias: [9], activation: 'leakyrelu', alpha: 0.1 },
      { bias: null, activation: 'leakyrelu' },
    ];
    for (const [transposeA, transposeB] of LAYOUTS) {
      const run = () =>
        tf.tidy(() =>
          cases.map(({ bias, activation, alpha }) => {
            const a = tf.mul(tf.tensor(randomValues(2 * 7 * 5, 41), stored([2], 7, 5, transposeA)), 4);
            const b = tf.tensor(randomValues(5 * 9, 42), stored([], 5, 9, transposeB));
            const biasTensor = bias === null ? undefined : tf.tensor(randomValues(sizeOf(bias), 43), bias);
            const result = tf.fused.matMul({
              a,
              b,
              transposeA,
              transposeB,
              bias: biasTensor,
              activation,
              ...(alpha === undefined ? {} : { leakyreluAlpha: alpha }),
            });
            return Array.from(result.dataSync());
          }),
        );
      const fast = await onBackend('wasm', run);
      const cpu = await onBackend('cpu', run);
      cases.forEach((entry, index) =>
        expectClose(fast[index] as number[], cpu[index] as number[], {
          atol: 1e-5,
          message: `${JSON.stringify(entry)} transposeA=${transposeA} transposeB=${transposeB}`,
        }),
      );
      // relu6 really clips: the scaled inputs reach past 6.
      expect(Math.max(...(fast[3] as number[]))).toBe(6);
    }
  });

  test('_FusedMatMul falls back to the stock kernel for prelu, elu, sigmoid and a bias that varies along rows', async () => {
    const run = () =>
      tf.tidy(() => {
        const a = tf.tensor(randomValues(4 * 3, 51), [4, 3]);
        const b = tf.tensor(randomValues(3 * 5, 52), [3, 5]);
        const slopes = tf.tensor(randomValues(5, 54), [5]);
        return [
          tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: slopes }),
          tf.fused.matMul({ a, b, activation: 'elu' }),
          tf.fused.matMul({ a, b, activation: 'sigmoid', bias: tf.ones([5]) }),
        ].map((result) => Array.from(result.dataSync()));
      });
    const runBiasOnly = () =>
      tf.tidy(() => Array.from(tf.fused.matMul({ a: tf.ones([4, 3]), b: tf.ones([3, 5]), bias: tf.ones([4, 5]) }).dataSync()));
    const fast = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    // The stock wasm kernel supports only a rank-1 bias, so the [4, 5] bias fails exactly as without fast kernels.
    await expect(onBackend('wasm', runBiasOnly)).rejects.toThrow(/rank-1 bias/);
    fast.forEach((values, index) => expectClose(values, cpu[index] as number[], { atol: 1e-5, message: `case ${index}` }));
  });

  test('non-float32 products go to the stock kernel (which rejects them as before)', () => {
    const a = tf.ones([2, 2], 'int32');
    expect(() => tf.matMul(a, a)).toThrow(/non-float32|float32/);
    a.dispose();
  });

  test('gradients through tf.matMul with every transpose flag equal float64 loops and finite differences', () => {
    for (const [transposeA, transposeB] of LAYOUTS) {
      const flags = `transposeA=${transposeA} transposeB=${transposeB}`;
      const [m, n, k] = [6, 9, 5];
      const aDense = dense(stored([2], m, k, transposeA), 61);
      const bDense = dense(stored([2], k, n, transposeB), 62);
      const weightsDense = dense([2, m, n], 63);
      const a = tf.tensor(aDense.values, aDense.shape);
      const b = tf.tensor(bDense.values, bDense.shape);
      const weights = tf.tensor(weightsDense.values, weightsDense.shape);
      const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.matMul(x, y, transposeA, transposeB), weights));
      const [gradientA, gradientB] = tf.grads(loss)([a, b]) as [tf.Tensor, tf.Tensor];
      // loss = sum(W . op(A) op(B)): d op(A) = W op(B)^T and d op(B) = op(A)^T W, transposed back where op transposes.
      const expectedA = transposeA
        ? naiveMatMul(bDense, weightsDense, transposeB, true)
        : naiveMatMul(weightsDense, bDense, false, !transposeB);
      const expectedB = transposeB
        ? naiveMatMul(weightsDense, aDense, true, transposeA)
        : naiveMatMul(aDense, weightsDense, !transposeA, false);
      expect(gradientA.shape).toEqual(aDense.shape);
      expect(gradientB.shape).toEqual(bDense.shape);
      expectClose(gradientA.dataSync(), expectedA.values, { atol: 1e-4, message: `dA ${flags}` });
      expectClose(gradientB.dataSync(), expectedB.values, { atol: 1e-4, message: `dB ${flags}` });
      tf.dispose([a, b, weights, gradientA, gradientB]);
    }
    const a = tf.tensor(randomValues(3 * 4, 64), [3, 4]);
    const b = tf.tensor(randomValues(5 * 3, 65), [5, 3]);
    checkGradients((x, y) => tf.sum(tf.square(tf.matMul(x, y, true, true))), [a, b], { epsilon: 1e-2, atol: 1e-2 });
    tf.dispose([a, b]);
  });

  test('gradient of a fused matMul with bias and relu equals the cpu backend', async () => {
    const run = () =>
      tf.tidy(() => {
        const a = tf.tensor(randomValues(5 * 4, 71), [5, 4]);
        const b = tf.tensor(randomValues(6 * 4, 72), [6, 4]);
        const bias = tf.tensor(randomValues(6, 73), [6]);
        const gradients = tf.grads((x, y, z) => tf.sum(tf.square(tf.fused.matMul({ a: x, b: y, bias: z, transposeB: true, activation: 'relu' }))))([a, b, bias]);
        return gradients.map((gradient) => Array.from(gradient.dataSync()));
      });
    const fast = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    fast.forEach((values, index) => expectClose(values, cpu[index] as number[], { atol: 1e-5, message: `input ${index}` }));
  });

  test('heap growth between products: the kernels keep working on the grown heap', () => {
    const backend = tf.backend() as unknown as WasmHeapBackend;
    const a = dense([37, 70], 81);
    const b = dense([70, 45], 82);
    expectProduct(a, b, false, false, 'before growth');
    const before = backend.wasm.asm.memory.buffer.byteLength;
    const big = tf.fill([before / 4 + 1024], 1); // more than the whole heap: it must grow
    expect(backend.wasm.asm.memory.buffer.byteLength).toBeGreaterThan(before);
    expectProduct(a, b, false, false, 'after growth');
    expectProduct(dense([70, 37], 83), b, true, false, 'after growth, transposed');
    big.dispose();
  });

  test('register / unregister / register cycles switch the kernels and both give the same products', () => {
    const a = dense([3, 11, 6], 91);
    const b = dense([3, 11, 8], 92);
    const expected = naiveMatMul(a, b, true, false);
    const stockBatchMatMul = (() => {
      unregisterFastKernels();
      return tf.getKernel(tf.BatchMatMul, 'wasm');
    })();
    for (let cycle = 0; cycle < 3; cycle++) {
      unregisterFastKernels();
      unregisterFastKernels(); // idempotent
      expect(fastKernelsActive()).toBe(false);
      expect(tf.getKernel(tf.BatchMatMul, 'wasm')).toBe(stockBatchMatMul);
      expectClose(product(a, b, true, false).values, expected.values, { atol: 1e-4, message: `stock, cycle ${cycle}` });
      registerFastKernels();
      expect(fastKernelsActive()).toBe(true);
      expect(tf.getKernel(tf.BatchMatMul, 'wasm')).not.toBe(stockBatchMatMul);
      expectClose(product(a, b, true, false).values, expected.values, { atol: 1e-4, message: `fast, cycle ${cycle}` });
    }
  });

  test('no tensor leaks or heap buffers left behind, forward and backward, plain and fused', () => {
    const a = tf.tensor(randomValues(2 * 5 * 3, 101), [2, 5, 3]);
    const b = tf.tensor(randomValues(3 * 4, 102), [3, 4]);
    const aT = tf.transpose(a, [0, 2, 1]);
    const b3 = tf.tensor(randomValues(2 * 3 * 4, 104), [2, 3, 4]);
    const bT = tf.transpose(b3, [0, 2, 1]);
    const bias = tf.tensor(randomValues(4, 103), [4]);
    const dataIds = (): number => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const before = dataIds();
    expectNoLeak(() => tf.matMul(a, b).dispose());
    expectNoLeak(() => tf.matMul(aT, bT, true, true).dispose());
    expectNoLeak(() => tf.fused.matMul({ a, b, bias, activation: 'relu' }).dispose());
    expectNoLeak(() => tf.dispose(tf.grads((x, y) => tf.sum(tf.matMul(x, y, true, true)))([aT, bT])));
    expectNoLeak(() => tf.dispose(tf.grads((x, y, z) => tf.sum(tf.fused.matMul({ a: x, b: y, bias: z })))([a, b3, bias])));
    expect(dataIds()).toBe(before);
    tf.dispose([a, b, b3, aT, bT, bias]);
  });
});

/** Every permutation of 0 .. rank-1. */
function permutations(rank: number): number[][] {
  if (rank === 1) return [[0]];
  return permutations(rank - 1).flatMap((perm) =>
    Array.from({ length: rank }, (_, position) => [...perm.slice(0, position), rank - 1, ...perm.slice(position)]),
  );
}

describe.skipIf(!onWasm)('fast wasm Transpose', () => {
  beforeAll(() => registerFastKernels());
  afterAll(() => unregisterFastKernels());

  /** Transposes on wasm (fast kernels) and on cpu; the results must be identical (it is a copy). */
  async function expectSameAsCpu(cases: [number[], number[], 'float32' | 'int32' | 'bool'][]): Promise<void> {
    const run = () =>
      tf.tidy(() =>
        cases.map(([shape, perm, dtype], index) => {
          const values = Array.from(randomValues(sizeOf(shape), 200 + index), (value) => (dtype === 'float32' ? value : Math.round(value * 1000)));
          const x = dtype === 'bool' ? tf.greater(tf.tensor(values, shape), 0) : tf.tensor(values, shape, dtype);
          const result = tf.transpose(x, perm);
          return { shape: result.shape, dtype: result.dtype, values: Array.from(result.dataSync()) };
        }),
      );
    const fast = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    cases.forEach((entry, index) => expect(fast[index], JSON.stringify(entry)).toEqual(cpu[index]));
  }

  test('every permutation of rank 2, 3 and 4 (float32 and int32, odd sizes around the 4x4 blocks) equals cpu', async () => {
    const cases: [number[], number[], 'float32' | 'int32'][] = [];
    for (const perm of permutations(2)) cases.push([[70, 45], perm, 'float32'], [[13, 4], perm, 'int32']);
    for (const perm of permutations(3)) cases.push([[5, 9, 6], perm, 'float32'], [[4, 3, 8], perm, 'int32']);
    for (const perm of permutations(4)) cases.push([[5, 6, 7, 9], perm, 'float32'], [[2, 8, 3, 4], perm, 'int32']);
    await expectSameAsCpu(cases);
  });

  test('size-1 axes, empty tensors, rank 1 and 5, and bool (stock fallback) equal cpu', async () => {
    await expectSameAsCpu([
      [[1, 37, 1, 41], [3, 2, 0, 1], 'float32'],
      [[37, 1, 41], [2, 1, 0], 'int32'],
      [[0, 5], [1, 0], 'float32'],
      [[11], [0], 'float32'],
      [[2, 3, 4, 5, 6], [0, 1, 2, 4, 3], 'float32'], // merges to rank 2
      [[2, 3, 2, 3, 2], [4, 2, 0, 3, 1], 'float32'], // stays rank 5: stock kernel
      [[6, 5], [1, 0], 'bool'], // stock kernel
    ]);
  });

  test('simplifyPermutation drops size-1 axes and merges axes that stay neighbours', () => {
    expect(simplifyPermutation([8, 64, 4, 32], [0, 2, 1, 3])).toEqual({ shape: [8, 64, 4, 32], perm: [0, 2, 1, 3] });
    expect(simplifyPermutation([2, 3, 4, 5], [2, 3, 0, 1])).toEqual({ shape: [6, 20], perm: [1, 0] });
    expect(simplifyPermutation([1, 7, 1, 9], [3, 2, 0, 1])).toEqual({ shape: [7, 9], perm: [1, 0] });
    expect(simplifyPermutation([3, 4], [0, 1])).toEqual({ shape: [12], perm: [0] });
    expect(simplifyPermutation([1, 1], [1, 0])).toEqual({ shape: [], perm: [] });
  });

  test('the gradient through tf.transpose equals cpu, without leaks', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(randomValues(3 * 5 * 6, 301), [3, 5, 6]);
        const weights = tf.tensor(randomValues(6 * 3 * 5, 302), [6, 3, 5]);
        return Array.from(tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.transpose(input, [2, 0, 1]), weights)))(x).dataSync());
      });
    expectClose(await onBackend('wasm', run), await onBackend('cpu', run), { atol: 0 });
    const x = tf.tensor(randomValues(24, 303), [2, 3, 4]);
    expectNoLeak(() => tf.transpose(x, [1, 2, 0]).dispose());
    expectNoLeak(() => tf.grad((input: tf.Tensor) => tf.sum(tf.transpose(input)))(x).dispose());
    x.dispose();
  });
});

describe.skipIf(!onWasm)('fast wasm Sum over leading axes', () => {
  beforeAll(() => registerFastKernels());
  afterAll(() => unregisterFastKernels());

  /** [shape, axis, keepDims]: leading-axis sums (the GEMM) and the stock fallbacks. */
  const cases: [number[], number | number[], boolean][] = [
    [[1024, 128], 0, false], // a bias gradient of the tiny step
    [[7, 13], 0, false],
    [[7, 13], -2, true],
    [[3, 5, 11], [1, 0], false], // the first two axes, given out of order
    [[3, 5, 11], [0, 1], true],
    [[1, 9], 0, false],
    [[37, 1], 0, false],
    [[2, 3, 4, 5], [0, 1, 2], false],
    [[0, 6], 0, false], // sums of no rows are zeros
    [[6, 0], 0, false],
    [[7, 13], 1, false], // trailing axis: stock
    [[3, 5, 11], [0, 2], false], // not a prefix: stock
    [[7, 13], [0, 1], false], // every axis: stock
  ];

  test('values equal a float64 loop and the cpu backend (odd shapes, keepDims, negative and unordered axes, fallbacks)', async () => {
    const run = () =>
      tf.tidy(() =>
        cases.map(([shape, axis, keepDims], index) => {
          const result = tf.sum(tf.tensor(randomValues(sizeOf(shape), 400 + index), shape), axis, keepDims);
          return { shape: result.shape, values: Array.from(result.dataSync()) };
        }),
      );
    const fast = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    cases.forEach(([shape, axis], index) => {
      const message = `sum over ${JSON.stringify(axis)} of [${shape}]`;
      expect(fast[index]?.shape, message).toEqual(cpu[index]?.shape);
      expectClose(fast[index]?.values ?? [], cpu[index]?.values ?? [], { atol: 1e-4, rtol: 1e-5, message });
    });
    // Against float64: column sums of the first case.
    const [rows, columns] = [1024, 128];
    const values = randomValues(rows * columns, 400);
    const expected = Array.from({ length: columns }, (_, j) => {
      let total = 0;
      for (let i = 0; i < rows; i++) total += values[i * columns + j] as number;
      return total;
    });
    expectClose(fast[0]?.values ?? [], expected, { atol: 1e-4, rtol: 1e-5 });
  });

  test('int32 sums keep the stock kernel; gradients of a broadcast bias add equal cpu; no leaks', async () => {
    const ints = tf.tensor2d([[1, 2], [3, 4], [5, 6]], undefined, 'int32');
    const total = tf.sum(ints, 0);
    expect(total.dtype).toBe('int32');
    expect(Array.from(total.dataSync())).toEqual([9, 12]);
    tf.dispose([ints, total]);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(randomValues(6 * 5 * 7, 450), [6, 5, 7]);
        const bias = tf.tensor(randomValues(7, 451), [7]);
        const weights = tf.tensor(randomValues(6 * 5 * 7, 452), [6, 5, 7]);
        return Array.from(tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.add(x, b), weights)))(bias).dataSync());
      });
    expectClose(await onBackend('wasm', run), await onBackend('cpu', run), { atol: 1e-5 });
    const x = tf.tensor(randomValues(40 * 9, 453), [40, 9]);
    expectNoLeak(() => tf.sum(x, 0).dispose());
    expectNoLeak(() => tf.tidy(() => tf.sum(tf.zeros([0, 3]), 0)).dispose());
    x.dispose();
  });
});

describe.skipIf(!onWasm)('registration errors', () => {
  test('registerFastKernels without an initialised wasm backend throws BackendUnavailableError naming the fix', () => {
    const registry = tf.engine().registry;
    const wasm = registry.wasm;
    delete registry.wasm;
    try {
      expect(() => registerFastKernels()).toThrow(BackendUnavailableError);
      expect(() => registerFastKernels()).toThrow(/tf\.setBackend\('wasm'\)/);
      expect(fastKernelsActive()).toBe(false);
    } finally {
      registry.wasm = wasm as tf.KernelBackend;
    }
  });
});

describe('the GEMM module on a heap of its own', () => {
  /** A heap-shaped fake backend: a fresh memory and a bump allocator. */
  function fakeBackend(memory: { buffer: ArrayBuffer | SharedArrayBuffer; grow(pages: number): number }) {
    let top = 1 << 16;
    return {
      wasm: {
        asm: { memory },
        _malloc: (bytes: number) => {
          const offset = top;
          top += (bytes + 63) & ~63;
          return offset;
        },
        _free: () => undefined,
      },
    } as unknown as WasmHeapBackend;
  }

  test('writes only the C entries it owns (strided rows, edge tiles) and the scratch', () => {
    const memory = new (webAssembly().Memory)({ initial: 64 });
    const backend = fakeBackend(memory);
    const gemm = instantiateGemm(backend);
    const heap = new Float32Array(memory.buffer);
    const [m, n, k, cRow] = [7, 13, 9, 20]; // C rows are 20 floats apart: columns 13..19 of each row are not C's
    const a = backend.wasm._malloc(m * k * 4);
    const b = backend.wasm._malloc(k * n * 4);
    gemm.run({ batch: 1, m: 1, n: 1, k: 1, a, aBatch: 0, aRow: 1, aColumn: 1, b, bBatch: 0, bRow: 1, bColumn: 1, c: a, cBatch: 0, cRow: 1, bias: 0, biasStride: 0, activation: 'linear', alpha: 0 });
    const c = backend.wasm._malloc(m * cRow * 4 + 256) + 64; // the scratch was allocated by the first run, below c
    const aValues = randomValues(m * k, 111);
    const bValues = randomValues(k * n, 112);
    heap.fill(-7.5, c / 4 - 16, c / 4 + m * cRow + 16);
    heap.set(aValues, a / 4);
    heap.set(bValues, b / 4);
    gemm.run({ batch: 1, m, n, k, a, aBatch: 0, aRow: k, aColumn: 1, b, bBatch: 0, bRow: n, bColumn: 1, c, cBatch: 0, cRow, bias: 0, biasStride: 0, activation: 'linear', alpha: 0 });
    const expected = naiveMatMul({ values: aValues, shape: [m, k] }, { values: bValues, shape: [k, n] }, false, false);
    for (let offset = -16; offset < m * cRow + 16; offset++) {
      const row = Math.floor(offset / cRow);
      const column = offset - row * cRow;
      const value = heap[c / 4 + offset] as number;
      if (offset >= 0 && row < m && column < n) {
        expect(Math.abs(value - (expected.values[row * n + column] as number))).toBeLessThan(1e-5);
      } else {
        expect(value, `float ${offset} from C`).toBe(-7.5);
      }
    }
  });

  test('the relaxed-SIMD build fuses where the CPU has FMA: other bits than SIMD128, no farther from float64', () => {
    expect(allowRelaxedSimd()).toBe(true);
    const memory = new (webAssembly().Memory)({ initial: 128 });
    const backend = fakeBackend(memory);
    const [m, n, k] = [33, 40, 700];
    const a = backend.wasm._malloc(m * k * 4);
    const b = backend.wasm._malloc(k * n * 4);
    const c = backend.wasm._malloc(m * n * 4);
    const heap = new Float32Array(memory.buffer);
    const aValues = randomValues(m * k, 121);
    const bValues = randomValues(k * n, 122);
    heap.set(aValues, a / 4);
    heap.set(bValues, b / 4);
    const expected = naiveMatMul({ values: aValues, shape: [m, k] }, { values: bValues, shape: [k, n] }, false, false).values;
    const results = GEMM_INSTRUCTIONS.map((instructions) => {
      const gemm = instantiateGemm(backend, instructions);
      expect(gemm.instructions).toBe(instructions);
      gemm.run({ batch: 1, m, n, k, a, aBatch: 0, aRow: k, aColumn: 1, b, bBatch: 0, bRow: n, bColumn: 1, c, cBatch: 0, cRow: n, bias: 0, biasStride: 0, activation: 'linear', alpha: 0 });
      return Float32Array.from(heap.subarray(c / 4, c / 4 + m * n));
    });
    const [plain, fused] = results as [Float32Array, Float32Array];
    const totalError = (values: Float32Array) => values.reduce((sum, value, index) => sum + Math.abs(value - (expected[index] as number)), 0);
    expectClose(fused, expected, { atol: 1e-4, rtol: 1e-4, message: 'relaxed-simd against float64' });
    expect(plain.some((value, index) => value !== fused[index])).toBe(true);
    expect(totalError(fused)).toBeLessThanOrEqual(totalError(plain));
  });

  test('in a fresh Node 20 process relaxed SIMD validates only after allowRelaxedSimd; insisting on it before says what provides it', () => {
    const gemmModule = pathToFileURL(fileURLToPath(new URL('./gemm.ts', import.meta.url))).href;
    const script = [
      `const gemm = await import(${JSON.stringify(gemmModule)});`,
      'const before = gemm.relaxedSimdSupported();',
      'let refusal = null;',
      "try { gemm.preferGemmInstructions('relaxed-simd'); } catch (error) { refusal = error.message; }",
      "const auto = gemm.gemmInstructions();",
      'const allowed = gemm.allowRelaxedSimd();',
      "console.log(JSON.stringify({ before, refusal, auto, allowed, after: gemm.gemmInstructions() }));",
    ].join('\n');
    const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawnSync(process.execPath, ['--conditions=@engram/source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: packageRoot, encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const seen = JSON.parse(child.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    if (nodeMajor < 22) {
      expect(seen).toMatchObject({ before: false, auto: 'simd128', allowed: true, after: 'relaxed-simd' });
      expect(seen.refusal).toMatch(/relaxed SIMD.*Node 22 or later.*--experimental-wasm-relaxed-simd/);
    } else {
      expect(seen).toMatchObject({ before: true, refusal: null, auto: 'relaxed-simd', allowed: true, after: 'relaxed-simd' });
    }
  });

  test('a shared heap (threaded wasm binary) is refused with a message that says so', () => {
    const shared = new (webAssembly().Memory)({ initial: 1, maximum: 4, shared: true } as { initial: number; maximum: number });
    expect(() => instantiateGemm(fakeBackend(shared))).toThrow(/shared memory/);
  });
});
