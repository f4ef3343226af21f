// spanRampMask, spanRampPenalty and the attention core's soft-mask path: native/span.c kernels on wasm against float64 loops and the plain ops on cpu (values, gradients, finite differences, broadcasting, leaks).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { registerFastKernels, unregisterFastKernels } from '../kernels/fast-kernels.js';
import { SOFT_MASKED_SOFTMAX, SPAN_MASK } from '../kernels/span-kernels.js';
import { randomValues, withFastKernels } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { relativeAttentionCore } from './attention-core.js';
import { spanRampMask, spanRampPenalty } from './span-mask.js';

interface SpanCase {
  name: string;
  spans: number[];
  distances: number[];
  ramp: number;
}

/** Odd sizes (K = 5, T = 3, B = 3, H = 2), per-key and per-head spans, a shared or per-row distance table. */
const CASES: SpanCase[] = [
  { name: 'per-key spans (Expire-Span) [3, 1, 1, 5], distances [3, 1, 3, 5]', spans: [3, 1, 1, 5], distances: [3, 1, 3, 5], ramp: 2.5 },
  { name: 'per-head spans (Adaptive-Span) [1, 2, 1, 1], distances [3, 1, 3, 5]', spans: [1, 2, 1, 1], distances: [3, 1, 3, 5], ramp: 3 },
  { name: 'per-key spans of one row [1, 1, 1, 5], distances [3, 1, 3, 5]', spans: [1, 1, 1, 5], distances: [3, 1, 3, 5], ramp: 1.5 },
  { name: 'per-row per-head spans [3, 2, 1, 1], shared distances [1, 1, 3, 5]', spans: [3, 2, 1, 1], distances: [1, 1, 3, 5], ramp: 2 },
  { name: 'per-key per-head spans [3, 2, 1, 5], shared distances [1, 1, 3, 5]', spans: [3, 2, 1, 5], distances: [1, 1, 3, 5], ramp: 4 },
];

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Distances t_q - t_k with keys [memory; current]: 2 memories before 3 queries give -2 .. 4 (future keys negative). */
function distanceValues(shape: number[]): Float32Array {
  const [rows, , queries, keys] = shape as [number, number, number, number];
  const values = new Float32Array(sizeOf(shape));
  for (let b = 0; b < rows; b++) for (let i = 0; i < queries; i++) for (let j = 0; j < keys; j++) values[(b * queries + i) * keys + j] = i + (keys - queries) - j + b;
  return values;
}

/**
 * Spans in (0, 6) with fractional parts 0.2, 0.3, 0.7 or 0.8: with whole-token distances and ramps that are whole or
 * half tokens, every pair stays 0.2 tokens off the clamp's kinks (finite differences need it).
 */
function spanValues(shape: number[], seed: number): Float32Array {
  const fractions = [0.2, 0.3, 0.7, 0.8];
  return randomValues(sizeOf(shape), seed, 0, 5).map((value, index) => Math.floor(value) + (fractions[index % 4] as number));
}

/** The mask in float64 loops: clamp(1 + (s - x) / R, 0, 1) * [x >= 0], with the penalty's sum of on-ramp s - x. */
function naive(c: SpanCase, spans: Float32Array, distances: Float32Array): { mask: Float64Array; shape: number[]; penalty: number } {
  const batch = Math.max(c.spans[0] as number, c.distances[0] as number);
  const heads = c.spans[1] as number;
  const [, , queries, keys] = c.distances as [number, number, number, number];
  const mask = new Float64Array(batch * heads * queries * keys);
  let penalty = 0;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queries; i++) {
        for (let j = 0; j < keys; j++) {
          const s = spans[(c.spans[0] === 1 ? 0 : b) * heads * (c.spans[3] as number) + h * (c.spans[3] as number) + (c.spans[3] === 1 ? 0 : j)] as number;
          const x = distances[((c.distances[0] === 1 ? 0 : b) * queries + i) * keys + j] as number;
          const m = x >= 0 ? Math.min(Math.max(1 + (s - x) / c.ramp, 0), 1) : 0;
          mask[((b * heads + h) * queries + i) * keys + j] = m;
          if (m > 0 && m < 1) penalty += s - x;
        }
      }
    }
  }
  return { mask, shape: [batch, heads, queries, keys], penalty };
}

/** Mask values, the gradient of sum(mask * weights) and the penalty with its gradient on the current backend. */
function evaluate(c: SpanCase, spans: Float32Array, distances: Float32Array, weights: Float32Array) {
  return tf.tidy(() => {
    const s = tf.tensor4d(spans, c.spans as [number, number, number, number]);
    const x = tf.tensor4d(distances, c.distances as [number, number, number, number]);
    const mask = spanRampMask(s, x, c.ramp);
    const w = tf.tensor(weights, mask.shape);
    const maskGradient = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(spanRampMask(input as tf.Tensor4D, x, c.ramp), w)))(s);
    const penalty = spanRampPenalty(s, x, c.ramp);
    const penaltyGradient = tf.grad((input: tf.Tensor) => tf.mul(spanRampPenalty(input as tf.Tensor4D, x, c.ramp), 0.7))(s);
    return {
      mask: mask.dataSync().slice(),
      shape: mask.shape,
      maskGradient: maskGradient.dataSync().slice(),
      penalty: penalty.dataSync()[0] as number,
      penaltyGradient: penaltyGradient.dataSync().slice(),
    };
  });
}

describe('spanRampMask and spanRampPenalty', () => {
  withFastKernels();

  test('the kernels are registered for wasm only', async () => {
    await tf.setBackend('wasm');
    expect(tf.getKernel(SPAN_MASK, 'wasm')).toBeDefined();
    expect(tf.getKernel(SPAN_MASK, 'cpu')).toBeUndefined();
  });

  describe.each(CASES)('$name', (c) => {
    const spans = spanValues(c.spans, 3);
    const distances = distanceValues(c.distances);

    test('values equal a float64 loop, and the wasm kernels equal the plain ops on cpu (values and gradients)', async () => {
      const reference = naive(c, spans, distances);
      const weights = randomValues(sizeOf(reference.shape), 9);
      await tf.setBackend('wasm');
      const kernel = evaluate(c, spans, distances, weights);
      await tf.setBackend('cpu');
      const plain = evaluate(c, spans, distances, weights);
      expect(kernel.shape).toEqual(reference.shape);
      expectClose(kernel.mask, reference.mask, { atol: 1e-6 });
      expectClose(plain.mask, reference.mask, { atol: 1e-6 });
      expectClose(kernel.maskGradient, plain.maskGradient, { atol: 1e-5, rtol: 1e-5 });
      expectClose(kernel.penalty, plain.penalty, { atol: 1e-4, rtol: 1e-5 });
      expectClose(kernel.penalty, reference.penalty, { atol: 1e-4, rtol: 1e-5 });
      expectClose(kernel.penaltyGradient, plain.penaltyGradient, { atol: 1e-6 });
      // The case exercises all three regimes: hidden, on the ramp and fully visible.
      expect(reference.mask.some((m) => m === 0) && reference.mask.some((m) => m === 1) && reference.mask.some((m) => m > 0 && m < 1)).toBe(true);
      expect(kernel.maskGradient.some((g) => g !== 0)).toBe(true);
    });

    test('gradients match finite differences on wasm', async () => {
      await tf.setBackend('wasm');
      const x = tf.tensor4d(distances, c.distances as [number, number, number, number]);
      const shape = naive(c, spans, distances).shape;
      const w = tf.tensor(randomValues(sizeOf(shape), 11), shape);
      const s = tf.tensor4d(spans, c.spans as [number, number, number, number]);
      checkGradients((input) => tf.sum(tf.mul(spanRampMask(input as tf.Tensor4D, x, c.ramp), w)), [s], { epsilon: 1e-2, atol: 1e-3, rtol: 1e-3 });
      checkGradients((input) => spanRampPenalty(input as tf.Tensor4D, x, c.ramp), [s], { epsilon: 1e-2, atol: 1e-2, rtol: 1e-3 });
      tf.dispose([x, w, s]);
    });
  });

  test("the gradient includes the clamp's ends like tf.clipByValue's (spans on whole tokens)", async () => {
    const c: SpanCase = { name: 'ties', spans: [1, 2, 1, 1], distances: [2, 1, 3, 5], ramp: 2 };
    const spans = new Float32Array([1, 2]);
    const distances = distanceValues(c.distances);
    const weights = randomValues(2 * 2 * 3 * 5, 5);
    await tf.setBackend('wasm');
    const kernel = evaluate(c, spans, distances, weights);
    await tf.setBackend('cpu');
    const plain = evaluate(c, spans, distances, weights);
    expectClose(kernel.maskGradient, plain.maskGradient, { atol: 1e-6 });
    expectClose(kernel.penaltyGradient, plain.penaltyGradient, { atol: 1e-6 });
  });

  test('leaks no tensor, forward or backward, on wasm and cpu', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const s = tf.tensor4d(spanValues([3, 1, 1, 5], 1), [3, 1, 1, 5]);
      const x = tf.tensor4d(distanceValues([3, 1, 3, 5]), [3, 1, 3, 5]);
      expectNoLeak(() => {
        spanRampMask(s, x, 2).dispose();
        spanRampPenalty(s, x, 2).dispose();
        tf.grad((input: tf.Tensor) => tf.add(tf.sum(spanRampMask(input as tf.Tensor4D, x, 2)), spanRampPenalty(input as tf.Tensor4D, x, 2)))(s).dispose();
      });
      tf.dispose([s, x]);
    }
  });

  test('rejects shapes and ramps it cannot use, naming the parameter', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([2, 1, 3, 5]) as tf.Tensor4D;
    const cases: Array<[tf.Tensor4D, tf.Tensor4D, number, string]> = [
      [tf.zeros([2, 1, 1, 4]) as tf.Tensor4D, x, 2, 'spans'],
      [tf.zeros([3, 1, 1, 5]) as tf.Tensor4D, x, 2, 'spans'],
      [tf.zeros([2, 1, 3, 5]) as tf.Tensor4D, x, 2, 'spans'],
      [tf.zeros([2, 1, 1, 5]) as tf.Tensor4D, tf.zeros([2, 2, 3, 5]) as tf.Tensor4D, 2, 'distances'],
      [tf.zeros([2, 1, 1, 5]) as tf.Tensor4D, x, 0, 'ramp'],
    ];
    for (const [spans, distances, ramp, parameter] of cases) {
      for (const op of [spanRampMask, spanRampPenalty]) {
        let error: unknown;
        try {
          op(spans, distances, ramp);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toContain(parameter);
      }
    }
    tf.dispose([x, ...cases.flatMap(([spans, distances]) => [spans, distances])]);
  });
});

describe('relativeAttentionCore soft-mask path on the native/span.c kernels', () => {
  const [batch, heads, headDim, queries, keys] = [3, 2, 3, 5, 9];
  const width = heads * headDim;
  withFastKernels();

  /** Soft masks with zeros (hidden keys) and a row of query 0 in batch row 1 that hides every key. */
  function softValues(shape: number[]): Float32Array {
    const values = randomValues(sizeOf(shape), 21, 0.05, 1).map((value, flat) => (flat % 5 === 2 ? 0 : value));
    if (shape[0] === batch) values.fill(0, sizeOf(shape.slice(1)) * 1, sizeOf(shape.slice(1)) * 1 + keys);
    return values;
  }

  /** Output and gradients of every input of `sum(core * weights)` on the current backend. */
  function run(softShape: number[], dropout?: { rate: number; seed: number }) {
    return tf.tidy(() => {
      const memory = keys - queries;
      const maskValues = Array.from({ length: queries * keys }, (_, flat) => (flat % keys <= memory + Math.floor(flat / keys) ? 1 : 0));
      const mask = tf.tensor4d(maskValues, [1, 1, queries, keys]);
      const inputs = [
        tf.tensor3d(randomValues(batch * queries * width, 1), [batch, queries, width]),
        tf.tensor3d(randomValues(batch * queries * width, 2), [batch, queries, width]),
        tf.tensor3d(randomValues(batch * keys * width, 3), [batch, keys, width]),
        tf.tensor3d(randomValues(batch * keys * width, 4), [batch, keys, width]),
        tf.tensor3d(randomValues(keys * width, 5), [1, keys, width]),
        tf.tensor(softValues(softShape), softShape),
      ];
      const weights = tf.tensor3d(randomValues(batch * queries * width, 6), [batch, queries, width]);
      const f = (...xs: tf.Tensor[]) => {
        const [qu, qv, k, v, r, softMask] = xs as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor];
        return relativeAttentionCore(qu, qv, k, v, r, { heads, mask, softMask, ...(dropout ? { dropout } : {}) });
      };
      const output = f(...inputs);
      const gradients = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), weights)))(inputs);
      return { output: output.dataSync().slice(), gradients: gradients.map((gradient) => gradient.dataSync().slice()) };
    });
  }

  for (const softShape of [[batch, 1, queries, keys], [batch, heads, queries, keys], [1, heads, queries, keys], [queries, keys]]) {
    test(`equals the plain ops on cpu, values and gradients, soft mask [${softShape.join(', ')}]`, async () => {
      await tf.setBackend('wasm');
      expect(tf.getKernel(SOFT_MASKED_SOFTMAX, tf.getBackend())).toBeDefined();
      const fused = run(softShape);
      await tf.setBackend('cpu');
      const plain = run(softShape);
      expectClose(fused.output, plain.output, { atol: 1e-5, rtol: 1e-4 });
      fused.gradients.forEach((gradient, index) => expectClose(gradient, plain.gradients[index] as Float32Array, { atol: 1e-5, rtol: 1e-3, message: `input ${index}` }));
      expect(fused.gradients[5]?.some((value) => value !== 0)).toBe(true);
    });
  }

  test('with dropout: equals the plain ops on wasm without the kernels', async () => {
    await tf.setBackend('wasm');
    const dropout = { rate: 0.3, seed: 7 };
    const fused = run([batch, 1, queries, keys], dropout);
    unregisterFastKernels();
    try {
      const plain = run([batch, 1, queries, keys], dropout);
      expectClose(fused.output, plain.output, { atol: 1e-5, rtol: 1e-4 });
      fused.gradients.forEach((gradient, index) => expectClose(gradient, plain.gradients[index] as Float32Array, { atol: 1e-5, rtol: 1e-3, message: `input ${index}` }));
    } finally {
      registerFastKernels();
    }
  });

  test('gradients match finite differences and nothing leaks', async () => {
    await tf.setBackend('wasm');
    const small = { b: 1, t: 2, k: 4 };
    const mask = tf.tensor4d([1, 1, 1, 0, 1, 1, 1, 1], [1, 1, small.t, small.k]);
    const inputs = [
      tf.tensor3d(randomValues(small.t * width, 31), [1, small.t, width]),
      tf.tensor3d(randomValues(small.t * width, 32), [1, small.t, width]),
      tf.tensor3d(randomValues(small.k * width, 33), [1, small.k, width]),
      tf.tensor3d(randomValues(small.k * width, 34), [1, small.k, width]),
      tf.tensor3d(randomValues(small.k * width, 35), [1, small.k, width]),
      // No zero: a soft mask of 0 hides its key, a step finite differences cannot cross.
      tf.tensor4d([0.5, 0.9, 0.2, 0.7, 0.3, 0.8, 0.6, 0.4], [1, 1, small.t, small.k]),
    ];
    const weights = tf.tensor3d(randomValues(small.t * width, 36), [1, small.t, width]);
    const f = (...xs: tf.Tensor[]) => {
      const [qu, qv, k, v, r, softMask] = xs as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor];
      return tf.sum(tf.mul(relativeAttentionCore(qu, qv, k, v, r, { heads, mask, softMask }), weights)) as tf.Scalar;
    };
    checkGradients(f, inputs, { epsilon: 1e-2, atol: 2e-3, rtol: 2e-2 });
    expectNoLeak(() => {
      tf.grads(f)(inputs).forEach((gradient) => gradient.dispose());
    });
    tf.dispose([mask, weights, ...inputs]);
  });
});
