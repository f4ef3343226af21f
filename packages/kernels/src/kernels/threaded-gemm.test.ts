// The two-thread GEMM: bit-identical to one thread, equal to the cpu backend, thresholds, splits, termination, fallback.
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { headApply, headScores } from '../ops/head-matmul.js';
import { randomValues } from '../test-support.js';
import { expectClose, expectNoLeak } from '../testing/index.js';
import {
  fastKernelInstructions,
  fastKernelThreads,
  fastKernelThreadStats,
  registerFastKernels,
  setFastKernelInstructions,
  setFastKernelThreads,
  unregisterFastKernels,
} from './fast-kernels.js';
import { allowRelaxedSimd, GEMM_INSTRUCTIONS, type GemmCall } from './gemm.js';
import { splitCalls, waitForJob } from './threaded-gemm.js';

const testBackend = tf.getBackend();
const onWasm = testBackend === 'wasm';

/** One case: builds its output from fixed input values (so the same case can run on wasm and on cpu). */
interface Case {
  name: string;
  run: () => tf.Tensor;
  /**
   * False where tfjs's cpu backend computes something else (it returns [3, 9, 10] for [2, 1, 9, 7] x [3, 7, 10]);
   * the single-thread kernel is checked against a float64 loop there in fast-kernels.test.ts.
   */
  cpu?: false;
}

const values = (shape: number[], seed: number): tf.Tensor => tf.tensor(randomValues(shape.reduce((p, e) => p * e, 1), seed), shape);

const CASES: Case[] = [
  { name: 'odd 2-D 37x53 @ 53x29', run: () => tf.matMul(values([37, 53], 1), values([53, 29], 2)) },
  { name: 'transposeA 2-D', run: () => tf.matMul(values([61, 35], 3), values([61, 43], 4), true, false) },
  { name: 'transposeB 2-D', run: () => tf.matMul(values([35, 300], 5), values([47, 300], 6), false, true) },
  { name: 'both transposed, K = 300 (two k-blocks)', run: () => tf.matMul(values([3, 300, 21], 7), values([3, 19, 300], 8), true, true) },
  { name: 'batched 5 x 13x17 @ 17x11', run: () => tf.matMul(values([5, 13, 17], 9), values([5, 17, 11], 10)) },
  { name: 'broadcast b [17, 11] over a [4, 13, 17]', run: () => tf.matMul(values([4, 13, 17], 11), values([17, 11], 12)) },
  { name: 'broadcast a [1, 13, 17] transposeA-free over b [6, 17, 9]', run: () => tf.matMul(values([1, 13, 17], 13), values([6, 17, 9], 14)) },
  { name: 'broadcast [2, 1] x [3] batch dims (one call per batch)', run: () => tf.matMul(values([2, 1, 9, 7], 15), values([3, 7, 10], 16)), cpu: false },
  {
    name: 'fused bias + relu, transposeB',
    run: () => tf.fused.matMul({ a: values([33, 40], 17), b: values([27, 40], 18), transposeB: true, bias: values([27], 19), activation: 'relu' }),
  },
  {
    name: 'fused scalar bias + leakyrelu, batched',
    run: () =>
      tf.fused.matMul({ a: values([3, 21, 16], 20), b: values([3, 16, 14], 21), bias: values([1], 22), activation: 'leakyrelu', leakyreluAlpha: 0.1 }),
  },
  { name: 'headScores [3, 10, 4*6] x [3, 9, 24]', run: () => headScores(values([3, 10, 24], 23) as tf.Tensor3D, values([3, 9, 24], 24) as tf.Tensor3D, 4) },
  { name: 'headScores with a shared y of batch 1', run: () => headScores(values([3, 10, 24], 25) as tf.Tensor3D, values([1, 9, 24], 26) as tf.Tensor3D, 4) },
  { name: 'headApply [3, 4, 10, 9] x [3, 9, 24]', run: () => headApply(values([3, 4, 10, 9], 27) as tf.Tensor4D, values([3, 9, 24], 28) as tf.Tensor3D, 4) },
  {
    name: 'gradients of a transposed product (tfjs flags)',
    run: () => {
      const a = values([19, 23], 29);
      const b = values([31, 23], 30);
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, false, true).square().sum())([a, b]) as [tf.Tensor, tf.Tensor];
      return tf.concat([da.flatten(), db.flatten()]);
    },
  },
];

function runAll(): Float32Array[] {
  return CASES.map((entry) => tf.tidy(() => entry.run().dataSync() as Float32Array));
}

async function onCpu<T>(fn: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return fn();
  } finally {
    await tf.setBackend(testBackend);
  }
}

const warnings: string[] = [];
const warn = (message: string): void => void warnings.push(message);

/** A plain call (row-major A [m, k], B [k, n], C [m, n], batches packed) at byte offset 0. */
function call(batch: number, m: number, n: number, k: number): GemmCall {
  return {
    batch, m, n, k,
    a: 0, aBatch: m * k, aRow: k, aColumn: 1,
    b: 1 << 20, bBatch: k * n, bRow: n, bColumn: 1,
    c: 2 << 20, cBatch: m * n, cRow: n,
    bias: 0, biasStride: 0, activation: 'linear', alpha: 0,
  };
}

describe('splitCalls (never along K, disjoint outputs)', () => {
  test('a batched call splits by batch entries, a single matrix by row blocks of 4', () => {
    const batched = splitCalls([call(5, 8, 8, 8)]);
    expect(batched?.main.map((part) => part.batch)).toEqual([2]);
    expect(batched?.worker.map((part) => [part.batch, part.c])).toEqual([[3, (2 << 20) + 4 * 2 * 64]]);
    const single = splitCalls([call(1, 37, 8, 300)]);
    expect(single?.main[0]?.m).toBe(20);
    expect(single?.worker[0]).toMatchObject({ m: 17, k: 300, a: 4 * 20 * 300, c: (2 << 20) + 4 * 20 * 8 });
    expect(splitCalls([call(1, 7, 8, 8)])).toBeNull(); // fewer than 8 rows: nothing to share
  });

  test('a list of calls splits into whole calls by FLOPs; interleaved outputs are not split', () => {
    const calls = [0, 1, 2, 3].map((index) => ({ ...call(1, 8, 8, 8), c: (2 << 20) + index * 256 }));
    expect(splitCalls(calls)).toMatchObject({ main: calls.slice(0, 2), worker: calls.slice(2) });
    // Head-style batch: heads are d floats apart inside each row, so the batch split would interleave: rows instead.
    const heads = { ...call(4, 16, 8, 8), cBatch: 8, cRow: 32 };
    const split = splitCalls([heads]);
    expect(split?.main[0]).toMatchObject({ batch: 4, m: 8 });
    expect(split?.worker[0]).toMatchObject({ batch: 4, m: 8, c: heads.c + 4 * 8 * 32 });
  });
});

describe('waitForJob (the main thread waiting for the worker)', () => {
  /** A DONE word the worker sets to `job` after `readsBefore` reads, and a sleep that behaves like Atomics.wait. */
  function fakeWord(job: number, readsBefore: number) {
    let value = job - 1;
    let reads = 0;
    const sleeps: { expected: number; outcome: string }[] = [];
    const readDone = (): number => {
      reads += 1;
      if (reads > readsBefore) value = job;
      return value;
    };
    // Atomics.wait: 'not-equal' at once when the word has moved on; else it sleeps until a notify ('ok': the worker
    // finishes while it sleeps) or, when the worker has already finished and notified, until the timeout.
    const sleep = (expected: number): string => {
      let outcome = 'not-equal';
      if (value === expected) {
        outcome = value === job ? 'timed-out' : 'ok';
        value = job;
      }
      sleeps.push({ expected, outcome });
      return outcome;
    };
    return { readDone, sleep, sleeps };
  }

  test('a worker that finishes right after the check is not slept on (no wait runs out its timeout)', () => {
    for (let readsBefore = 0; readsBefore < 4; readsBefore++) {
      const word = fakeWord(7, readsBefore);
      waitForJob(7, word.readDone, word.sleep, 60_000);
      expect(word.sleeps.filter((entry) => entry.outcome === 'timed-out'), `worker done after ${readsBefore} reads`).toEqual([]);
    }
  });

  test('gives up at the limit when the worker never finishes', () => {
    let clock = 0;
    const sleeps: number[] = [];
    waitForJob(3, () => 2, (expected) => (sleeps.push(expected), 'timed-out'), 5_000, () => (clock += 1000));
    expect(sleeps.length).toBeGreaterThan(0);
    expect(sleeps.length).toBeLessThanOrEqual(6);
  });
});

describe.skipIf(!onWasm)('threaded fast kernels', () => {
  let single: Float32Array[] = [];
  beforeAll(() => {
    registerFastKernels();
    single = runAll();
  });
  afterEach(async () => {
    await setFastKernelThreads(1);
    registerFastKernels();
  });
  afterAll(async () => {
    await setFastKernelThreads(1);
    unregisterFastKernels();
  });

  test('with a threshold of 0 every product is shared and the results equal one thread bit for bit', async () => {
    expect(await setFastKernelThreads(2, { minFlops: 0, warn })).toBe(2);
    expect(fastKernelThreads()).toBe(2);
    const threaded = runAll();
    const stats = fastKernelThreadStats();
    expect(stats).not.toBeNull();
    expect((stats?.shared ?? 0) + (stats?.reclaimed ?? 0)).toBeGreaterThanOrEqual(CASES.length);
    CASES.forEach((entry, index) => expect(Array.from(threaded[index] as Float32Array), entry.name).toEqual(Array.from(single[index] as Float32Array)));
  });

  test('each GEMM build, and a change of build while two threads run, stays bit-identical to one thread of that build', async () => {
    expect(allowRelaxedSimd()).toBe(true);
    const before = fastKernelInstructions();
    try {
      for (const instructions of GEMM_INSTRUCTIONS) {
        const other = GEMM_INSTRUCTIONS.find((candidate) => candidate !== instructions) as (typeof GEMM_INSTRUCTIONS)[number];
        await setFastKernelThreads(1);
        await setFastKernelInstructions(instructions);
        const one = runAll();
        // The worker starts on the other build; switching restarts it with this one (a worker left on the other build
        // would get no work: the main thread keeps every call whose build differs, so the counters below stay 0).
        await setFastKernelInstructions(other);
        await setFastKernelThreads(2, { minFlops: 0, warn });
        expect(await setFastKernelInstructions(instructions)).toBe(instructions);
        expect(fastKernelThreads()).toBe(2);
        const two = runAll();
        const stats = fastKernelThreadStats();
        expect((stats?.shared ?? 0) + (stats?.reclaimed ?? 0), instructions).toBeGreaterThanOrEqual(CASES.length);
        CASES.forEach((entry, index) =>
          expect(Array.from(two[index] as Float32Array), `${instructions}: ${entry.name}`).toEqual(Array.from(one[index] as Float32Array)),
        );
      }
    } finally {
      await setFastKernelInstructions(before);
    }
  });

  test('the threaded results match the cpu backend', async () => {
    await setFastKernelThreads(2, { minFlops: 0, warn });
    const threaded = runAll();
    const cpu = await onCpu(runAll);
    CASES.forEach((entry, index) => {
      if (entry.cpu === false) return;
      expectClose(threaded[index] as Float32Array, cpu[index] as Float32Array, { atol: 1e-4, rtol: 1e-4, message: entry.name });
    });
  });

  test('below the threshold nothing is shared', async () => {
    await setFastKernelThreads(2, { minFlops: Number.POSITIVE_INFINITY, warn });
    const threaded = runAll();
    expect(fastKernelThreadStats()).toMatchObject({ shared: 0, reclaimed: 0 });
    CASES.forEach((entry, index) => expect(Array.from(threaded[index] as Float32Array), entry.name).toEqual(Array.from(single[index] as Float32Array)));
  });

  test('no tensor leaks with threads', async () => {
    await setFastKernelThreads(2, { minFlops: 0, warn });
    expectNoLeak(() => {
      runAll();
    });
  });

  test('unregisterFastKernels terminates the worker; setFastKernelThreads(1) too', async () => {
    await setFastKernelThreads(2, { minFlops: 0, warn });
    unregisterFastKernels();
    expect(fastKernelThreads()).toBe(1);
    expect(fastKernelThreadStats()).toBeNull();
    registerFastKernels();
    expect(await setFastKernelThreads(2, { minFlops: 0, warn })).toBe(2);
    expect(await setFastKernelThreads(1)).toBe(1);
    expect(fastKernelThreads()).toBe(1);
  });

  test('a worker that cannot start leaves one thread with a warning, never an error', async () => {
    warnings.length = 0;
    const failing = await setFastKernelThreads(2, {
      warn,
      spawn: async () => {
        throw new Error('no worker threads here');
      },
    });
    expect(failing).toBe(1);
    expect(fastKernelThreads()).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/one thread.*no worker threads here/);
    const neverReady = await setFastKernelThreads(2, {
      warn,
      spawn: async () => ({ ready: Promise.reject(new Error('worker crashed on start')), unref: () => {}, terminate: () => {} }),
    });
    expect(neverReady).toBe(1);
    expect(warnings[1]).toMatch(/worker crashed on start/);
    const after = runAll();
    CASES.forEach((entry, index) => expect(Array.from(after[index] as Float32Array), entry.name).toEqual(Array.from(single[index] as Float32Array)));
  });

  test('bad thread counts are rejected with the parameter named', async () => {
    await expect(setFastKernelThreads(3)).rejects.toThrow(InvalidArgumentError);
    await expect(setFastKernelThreads(0)).rejects.toThrow(/threads/);
  });
});
