// The fused clip + Adam kernel against stock tf.AdamOptimizer on wasm and on cpu: bit-equal params and moments, state, leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { randomValues, withFastKernels } from '../test-support.js';
import { clipAndApplyGradients, FusedAdamOptimizer } from './fused-adam.js';
import { clipByGlobalNorm, GLOBAL_NORM, globalGradientNorm } from '../ops/gradient.js';

/** Odd sizes (not multiples of 4), a scalar, an empty tensor and one full SIMD block. */
const SHAPES: number[][] = [[], [1], [3], [5, 7], [2, 3, 11], [130], [0], [4, 8]];
const STEPS = 5;
const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

interface Run {
  params: Float32Array[];
  moments: Float32Array[];
  iterations: number;
}

/**
 * STEPS Adam updates of SHAPES.length variables from fixed values and gradients; `scale` multiplies every gradient
 * (the clip factor). `fused` uses FusedAdamOptimizer.applyScaledGradients, otherwise the stock optimizer on
 * explicitly scaled gradients (what clipByGlobalNorm + applyGradients did before).
 */
async function run(backend: string, fused: boolean, scale: number, tag: string): Promise<Run> {
  await tf.setBackend(backend);
  const variables = SHAPES.map((shape, index) => tf.variable(tf.tensor(randomValues(sizeOf(shape), 10 + index), shape), true, `${tag}/${index}`));
  const optimizer = fused ? new FusedAdamOptimizer(1e-2, 0.9, 0.999, 1e-8) : new tf.AdamOptimizer(1e-2, 0.9, 0.999, 1e-8);
  for (let step = 0; step < STEPS; step++) {
    const gradients: tf.NamedTensorMap = {};
    SHAPES.forEach((shape, index) => {
      gradients[`${tag}/${index}`] = tf.tensor(randomValues(sizeOf(shape), 100 * step + index, -3, 3), shape);
    });
    if (fused) (optimizer as FusedAdamOptimizer).applyScaledGradients(gradients, scale);
    else {
      const scaled = tf.tidy(() => Object.fromEntries(Object.entries(gradients).map(([name, g]) => [name, scale === 1 ? tf.clone(g) : tf.mul(g, tf.scalar(scale))])));
      (optimizer as tf.Optimizer).applyGradients(scaled);
      tf.dispose(Object.values(scaled));
    }
    tf.dispose(Object.values(gradients));
  }
  const weights = await optimizer.getWeights();
  const result: Run = {
    params: variables.map((variable) => variable.dataSync().slice() as Float32Array),
    moments: weights.slice(1).map(({ tensor }) => tensor.dataSync().slice() as Float32Array),
    iterations: (await weights[0]!.tensor.data())[0] as number,
  };
  expect(weights.slice(1).map(({ name }) => name)).toEqual([
    ...SHAPES.map((_, index) => `${tag}/${index}/m`),
    ...SHAPES.map((_, index) => `${tag}/${index}/v`),
  ]);
  optimizer.dispose();
  tf.dispose(variables);
  return result;
}

function expectSame(actual: Run, expected: Run): void {
  expect(actual.iterations).toBe(expected.iterations);
  actual.params.forEach((values, index) => expect(values, `param ${index}`).toEqual(expected.params[index]));
  actual.moments.forEach((values, index) => expect(values, `moment ${index}`).toEqual(expected.moments[index]));
}

describe('FusedAdamOptimizer on the fused wasm kernel', () => {
  withFastKernels();

  test('is active on wasm with the fast kernels and not on cpu', async () => {
    await tf.setBackend('wasm');
    expect(FusedAdamOptimizer.fusedActive()).toBe(true);
    await tf.setBackend('cpu');
    expect(FusedAdamOptimizer.fusedActive()).toBe(false);
  });

  for (const scale of [1, 0.37]) {
    test(`equals stock Adam bit for bit over ${STEPS} steps, scale ${scale}: on wasm and on cpu`, async () => {
      const fused = await run('wasm', true, scale, `fused${scale}`);
      expectSame(fused, await run('wasm', false, scale, `wasm${scale}`));
      expectSame(fused, await run('cpu', false, scale, `cpu${scale}`));
      // Adam moved every non-empty parameter.
      const initial = SHAPES.map((shape, index) => randomValues(sizeOf(shape), 10 + index));
      fused.params.forEach((values, index) => {
        if (values.length > 0) expect(values).not.toEqual(initial[index]);
      });
    });
  }

  test('falls back to the stock math on cpu (same numbers)', async () => {
    expectSame(await run('cpu', true, 0.37, 'fallback'), await run('wasm', true, 0.37, 'fused-again'));
  });

  test('leaks no tensor per step; skips a missing gradient but still creates its moments', async () => {
    await tf.setBackend('wasm');
    const a = tf.variable(tf.ones([5]), true, 'leak/a');
    const b = tf.variable(tf.ones([3]), true, 'leak/b');
    const optimizer = new FusedAdamOptimizer(1e-3, 0.9, 0.999, 1e-8);
    const gradient = tf.fill([5], 0.5);
    optimizer.applyGradients({ 'leak/a': gradient });
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) optimizer.applyScaledGradients({ 'leak/a': gradient }, 0.5);
    expect(tf.memory().numTensors).toBe(before);
    optimizer.applyGradients([{ name: 'leak/a', tensor: gradient }, { name: 'leak/b', tensor: null as unknown as tf.Tensor }]);
    expect(Array.from(b.dataSync())).toEqual([1, 1, 1]);
    expect((await optimizer.getWeights()).map(({ name }) => name).slice(1)).toEqual(['leak/a/m', 'leak/b/m', 'leak/a/v', 'leak/b/v']);
    optimizer.dispose();
    tf.dispose([a, b, gradient]);
  });

  test('clipAndApplyGradients equals clipByGlobalNorm + applyGradients for the fused, stock Adam and SGD optimizers', async () => {
    await tf.setBackend('wasm');
    const values = (variables: tf.Variable[]) => variables.map((variable) => Array.from(variable.dataSync()));
    for (const maxNorm of [0, 0.5, 1e6]) {
      const make = (tag: string) => [tf.variable(tf.tensor(randomValues(7, 1)), true, `${tag}/a`), tf.variable(tf.tensor(randomValues(5, 2)), true, `${tag}/b`)];
      const gradients = (tag: string): Record<string, tf.Tensor> => ({ [`${tag}/a`]: tf.tensor(randomValues(7, 3, -2, 2)), [`${tag}/b`]: tf.tensor(randomValues(5, 4, -2, 2)) });
      const results: number[][][] = [];
      for (const [tag, optimizer, helper] of [
        ['h-fused', new FusedAdamOptimizer(0.1, 0.9, 0.999, 1e-8), true],
        ['h-stock', new tf.AdamOptimizer(0.1, 0.9, 0.999, 1e-8), false],
        ['h-sgd', tf.train.sgd(0.1), true],
        ['h-sgd-ref', tf.train.sgd(0.1), false],
      ] as const) {
        const variables = make(tag);
        const grads = gradients(tag);
        if (helper) {
          const result = clipAndApplyGradients(optimizer, grads, maxNorm, (norm) => Number.isFinite(norm));
          expect(result.applied).toBe(true);
          expect(result.globalNorm).toBeCloseTo(clipByGlobalNorm(grads, maxNorm).globalNorm, 6);
          tf.dispose(Object.values(clipByGlobalNorm(grads, 0).gradients));
        } else {
          const clipped = clipByGlobalNorm(grads, maxNorm);
          (optimizer as tf.Optimizer).applyGradients(clipped.gradients);
          tf.dispose(Object.values(clipped.gradients));
        }
        results.push(values(variables));
        expect(Object.values(grads).every((tensor) => !tensor.isDisposed)).toBe(true);
        optimizer.dispose();
        tf.dispose([...variables, ...Object.values(grads)]);
      }
      expect(results[0]).toEqual(results[1]);
      expect(results[2]).toEqual(results[3]);
    }
    const variable = tf.variable(tf.ones([2]), true, 'h-skip');
    const optimizer = new FusedAdamOptimizer(0.1, 0.9, 0.999, 1e-8);
    const gradient = tf.tensor([Number.NaN, 1]);
    expect(clipAndApplyGradients(optimizer, { 'h-skip': gradient }, 1, (norm) => Number.isFinite(norm)).applied).toBe(false);
    expect(Array.from(variable.dataSync())).toEqual([1, 1]);
    optimizer.dispose();
    tf.dispose([variable, gradient]);
  });
});

describe('the global norm kernel', () => {
  withFastKernels();

  test('is one dispatch, within float32 rounding of a float64 sum, and agrees with the stock ops on cpu', async () => {
    await tf.setBackend('wasm');
    const values = SHAPES.map((shape, index) => randomValues(sizeOf(shape), 40 + index, -3, 3));
    let exact = 0;
    for (const array of values) for (const value of array) exact += value * value;
    exact = Math.sqrt(exact);
    const norm = async (backend: string): Promise<{ norm: number; kernels: string[] }> => {
      await tf.setBackend(backend);
      const gradients = Object.fromEntries(SHAPES.map((shape, index) => [`g${index}`, tf.tensor(values[index] as Float32Array, shape)]));
      const info = await tf.profile(() => {
        globalGradientNorm(gradients);
      });
      const result = globalGradientNorm(gradients);
      tf.dispose(Object.values(gradients));
      return { norm: result, kernels: info.kernels.map((kernel) => kernel.name) };
    };
    const wasm = await norm('wasm');
    const cpu = await norm('cpu');
    await tf.setBackend('wasm');
    expect(wasm.kernels).toEqual([GLOBAL_NORM]);
    expect(cpu.kernels).not.toContain(GLOBAL_NORM);
    expect(Math.abs(wasm.norm - exact)).toBeLessThanOrEqual(exact * 2 ** -23);
    expect(Math.abs(cpu.norm - wasm.norm)).toBeLessThanOrEqual(exact * 1e-6);
  });

  test('leaks nothing, gives 0 for zeros and an empty list, and keeps the stock ops for other dtypes', async () => {
    await tf.setBackend('wasm');
    const zeros = { a: tf.zeros([3, 5]), b: tf.zeros([0]) };
    expect(globalGradientNorm(zeros)).toBe(0);
    expect(globalGradientNorm({})).toBe(0);
    const integers = { a: tf.tensor1d([3, 4], 'int32') };
    expect(globalGradientNorm(integers)).toBe(5);
    const mixed = { a: tf.tensor1d([3]), b: tf.tensor1d([4], 'int32') };
    expect(globalGradientNorm(mixed)).toBe(5);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) globalGradientNorm(zeros);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...Object.values(zeros), ...Object.values(integers), ...Object.values(mixed)]);
  });
});
