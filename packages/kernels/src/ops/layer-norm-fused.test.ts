// layerNorm on the native/norm.c kernels (wasm, fast kernels registered) against float64 loops and the tfjs-op path on cpu: values, gradients, finite differences, odd shapes, constant rows, large offsets, leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { LAYER_NORM, LAYER_NORM_GRAD } from '../kernels/norm-kernels.js';
import { randomValues, withFastKernels } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { layerNorm } from './layer-norm.js';

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

interface Inputs {
  shape: number[];
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  weights: Float32Array;
}

function inputs(shape: number[], seed: number, low = -2, high = 3): Inputs {
  const features = shape[shape.length - 1] as number;
  return {
    shape,
    x: randomValues(sizeOf(shape), seed, low, high),
    gamma: randomValues(features, seed + 1, 0.5, 1.5),
    beta: randomValues(features, seed + 2),
    weights: randomValues(sizeOf(shape), seed + 3),
  };
}

/**
 * Layer norm of the rows of x in float64 and the gradients of `sum(y * weights)`: dx, dgamma, dbeta.
 * @returns y and dx `[N * D]`, dgamma and dbeta `[D]`
 */
function naive({ shape, x, gamma, beta, weights }: Inputs, epsilon: number) {
  const features = shape[shape.length - 1] as number;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(features);
  const dbeta = new Float64Array(features);
  for (let start = 0; start < x.length; start += features) {
    let mean = 0;
    for (let k = 0; k < features; k++) mean += x[start + k] as number;
    mean /= features;
    let variance = 0;
    for (let k = 0; k < features; k++) variance += ((x[start + k] as number) - mean) ** 2;
    variance /= features;
    const inverse = 1 / Math.sqrt(variance + epsilon);
    const xhat = Array.from({ length: features }, (_, k) => ((x[start + k] as number) - mean) * inverse);
    const g = xhat.map((_, k) => (weights[start + k] as number) * (gamma[k] as number));
    const meanG = g.reduce((a, b) => a + b, 0) / features;
    const meanGX = g.reduce((a, b, k) => a + b * (xhat[k] as number), 0) / features;
    for (let k = 0; k < features; k++) {
      const h = xhat[k] as number;
      y[start + k] = h * (gamma[k] as number) + (beta[k] as number);
      dx[start + k] = ((g[k] as number) - meanG - h * meanGX) * inverse;
      dgamma[k] = (dgamma[k] as number) + (weights[start + k] as number) * h;
      dbeta[k] = (dbeta[k] as number) + (weights[start + k] as number);
    }
  }
  return { y, dx, dgamma, dbeta };
}

/** layerNorm's output and the gradients of `sum(y * weights)` on the active backend, with the kernels it dispatched. */
async function evaluate({ shape, x, gamma, beta, weights }: Inputs, epsilon = 1e-5) {
  const tensors = [tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor(weights, shape)] as const;
  const [input, scale, shift, w] = tensors;
  const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, g as tf.Tensor1D, b as tf.Tensor1D, epsilon), w));
  let result: { y: Float32Array; dx: Float32Array; dgamma: Float32Array; dbeta: Float32Array } | undefined;
  const profile = await tf.profile(() => {
    result = tf.tidy(() => {
      const y = layerNorm(input, scale as tf.Tensor1D, shift as tf.Tensor1D, epsilon);
      const [dx, dgamma, dbeta] = tf.grads(loss)([input, scale, shift]) as [tf.Tensor, tf.Tensor, tf.Tensor];
      expect(y.shape).toEqual(shape);
      expect(dx.shape).toEqual(shape);
      expect(dgamma.shape).toEqual(scale.shape);
      return {
        y: y.dataSync() as Float32Array,
        dx: dx.dataSync() as Float32Array,
        dgamma: dgamma.dataSync() as Float32Array,
        dbeta: dbeta.dataSync() as Float32Array,
      };
    });
  });
  tf.dispose([...tensors]);
  return { ...(result as NonNullable<typeof result>), kernels: profile.kernels.map((kernel) => kernel.name) };
}

/** Every D in {1, 3, 5, 130} with every N in {1, 7, 513}, ranks 2 to 4. */
const SHAPES = [
  [1, 1], [7, 1], [27, 19, 1],
  [1, 1, 3], [7, 3], [3, 9, 19, 3],
  [1, 5], [7, 1, 5], [513, 5],
  [1, 1, 1, 130], [7, 130], [27, 19, 130],
];

describe('layerNorm on the native/norm.c kernels', () => {
  test('the kernels are not registered before registerFastKernels', () => {
    expect(tf.getKernel(LAYER_NORM, 'wasm')).toBeUndefined();
    expect(tf.getKernel(LAYER_NORM_GRAD, 'wasm')).toBeUndefined();
  });

  describe('with the fast kernels', () => {
    withFastKernels();

    test('the kernels are registered for wasm only', async () => {
      await tf.setBackend('wasm');
      expect(tf.getKernel(LAYER_NORM, 'wasm')).toBeDefined();
      expect(tf.getKernel(LAYER_NORM_GRAD, 'wasm')).toBeDefined();
      expect(tf.getKernel(LAYER_NORM, 'cpu')).toBeUndefined();
    });

    test.each(SHAPES.map((shape, index) => ({ shape, index })))(
      'x $shape: values and gradients equal a float64 loop and the tfjs ops on cpu, one kernel each way',
      async ({ shape, index }) => {
        const data = inputs(shape, 10 * index + 1);
        const reference = naive(data, 1e-5);
        await tf.setBackend('wasm');
        const fused = await evaluate(data);
        await tf.setBackend('cpu');
        const plain = await evaluate(data);
        // The wasm run dispatched one layer-norm kernel forward (twice: the value and the taped loss) and one backward.
        expect(fused.kernels.filter((name) => name === LAYER_NORM)).toHaveLength(2);
        expect(fused.kernels.filter((name) => name === LAYER_NORM_GRAD)).toHaveLength(1);
        expect(fused.kernels).not.toContain('Rsqrt');
        expect(plain.kernels).not.toContain(LAYER_NORM);
        for (const key of ['y', 'dx', 'dgamma', 'dbeta'] as const) {
          expectClose(fused[key], reference[key], { atol: 1e-4, rtol: 1e-4 });
          expectClose(fused[key], plain[key], { atol: 1e-4, rtol: 1e-4 });
        }
      },
    );

    test('gradients match finite differences on wasm (D = 3, 5, 130)', async () => {
      await tf.setBackend('wasm');
      for (const [shape, seed] of [[[2, 3, 5], 3], [[4, 3], 5], [[1, 130], 7]] as const) {
        const data = inputs([...shape], seed);
        const tensors = [tf.tensor(data.x, [...shape]), tf.tensor1d(data.gamma), tf.tensor1d(data.beta)];
        const w = tf.tensor(data.weights, [...shape]);
        checkGradients((a, g, b) => tf.sum(tf.mul(layerNorm(a as tf.Tensor, g as tf.Tensor1D, b as tf.Tensor1D), w)), tensors, {
          epsilon: 1e-2,
          atol: 2e-3,
          rtol: 1e-2,
        });
        tf.dispose([...tensors, w]);
      }
    });

    test('constant rows give beta and finite gradients, as the tfjs ops do', async () => {
      const shape = [4, 7];
      const data = inputs(shape, 40);
      // Rows 0, 1 and 3 are constant (0, 1e4 and -3.25); row 2 is not.
      data.x.fill(0, 0, 7);
      data.x.fill(1e4, 7, 14);
      data.x.fill(-3.25, 21, 28);
      await tf.setBackend('wasm');
      const fused = await evaluate(data);
      await tf.setBackend('cpu');
      const plain = await evaluate(data);
      for (const row of [0, 1, 3]) expectClose(fused.y.slice(7 * row, 7 * row + 7), data.beta, { atol: 1e-6 });
      for (const key of ['y', 'dx', 'dgamma', 'dbeta'] as const) {
        expect(fused[key].every(Number.isFinite)).toBe(true);
        expectClose(fused[key], plain[key], { atol: 1e-3, rtol: 1e-4 });
      }
      // A constant row's xhat is 0: dx = (g - mean(g)) / sqrt(epsilon).
      expectClose(fused.dx.slice(0, 7), naive(data, 1e-5).dx.slice(0, 7), { atol: 1e-3, rtol: 1e-4 });
    });

    test('rows with a large offset (mean 1e4, std 1e-2) match float64 and the tfjs ops', async () => {
      for (const features of [128, 130]) {
        const data = inputs([9, features], 50 + features, 1e4 - 0.017, 1e4 + 0.017);
        const reference = naive(data, 1e-5);
        await tf.setBackend('wasm');
        const fused = await evaluate(data);
        await tf.setBackend('cpu');
        const plain = await evaluate(data);
        // x itself is float32 (spacing 1e-3 around 1e4): the reference starts from the same rounded values.
        expectClose(fused.y, reference.y, { atol: 1e-5, rtol: 1e-5 });
        expectClose(fused.dx, reference.dx, { atol: 1e-3, rtol: 1e-5 });
        expectClose(fused.dgamma, reference.dgamma, { atol: 1e-4, rtol: 1e-5 });
        expectClose(fused.dbeta, reference.dbeta, { atol: 1e-5, rtol: 1e-5 });
        // The tfjs ops' mean keeps its float32 rounding (about 1e-3 here, a tenth of sigma); the kernel corrects it.
        const worst = (actual: Float32Array) => Math.max(...actual.map((value, k) => Math.abs(value - (reference.y[k] as number))));
        expect(worst(fused.y)).toBeLessThan(worst(plain.y));
      }
    });

    test('epsilon reaches the kernel, and an empty x takes the tfjs ops', async () => {
      await tf.setBackend('wasm');
      const data = inputs([3, 6], 60);
      const reference = naive(data, 0.5);
      expectClose((await evaluate(data, 0.5)).y, reference.y, { atol: 1e-5 });
      const empty = layerNorm(tf.zeros([0, 4]), tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D);
      expect(empty.shape).toEqual([0, 4]);
      empty.dispose();
    });

    test('leaks no tensor, forward or backward', async () => {
      await tf.setBackend('wasm');
      const x = tf.tensor(randomValues(7 * 130, 70), [7, 130]);
      const gamma = tf.tensor1d(randomValues(130, 71));
      const beta = tf.tensor1d(randomValues(130, 72));
      expectNoLeak(() => layerNorm(x, gamma, beta).dispose());
      expectNoLeak(() => tf.dispose(tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(layerNorm(a, g as tf.Tensor1D, b as tf.Tensor1D))))([x, gamma, beta])));
      tf.dispose([x, gamma, beta]);
    });

    test('the kernels reject inputs they cannot read, naming the input', async () => {
      await tf.setBackend('wasm');
      const x = tf.zeros([2, 4]);
      const gamma = tf.ones([3]);
      const int = tf.zeros([2, 4], 'int32');
      const run = (name: string, inputs: tf.NamedTensorMap, attrs = {}) => () => tf.engine().runKernel(name, inputs, attrs);
      expect(run(LAYER_NORM, { x, gamma, beta: gamma }, { epsilon: 1e-5 })).toThrow(/float32 gamma input of shape \[4\], got float32 \[3\]/);
      expect(run(LAYER_NORM, { x: int, gamma: x, beta: x }, { epsilon: 1e-5 })).toThrow(/float32 x input/);
      const [inverse, wide] = [tf.zeros([3, 1]), tf.ones([4])];
      expect(run(LAYER_NORM_GRAD, { dy: x, normalized: x, inverse, gamma: wide })).toThrow(/inverse input of shape \[\.\.\., 1\]/);
      tf.dispose([x, gamma, int, inverse, wide]);
    });
  });
});
