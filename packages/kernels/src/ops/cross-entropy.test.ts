// sparseSoftmaxCrossEntropy (composite, and the fused wasm kernels) against a float64 log-sum-exp reference and the cpu backend: values, stability, gradients, leaks.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerFastKernels, unregisterFastKernels } from '../kernels/fast-kernels.js';
import { SOFTMAX_CROSS_ENTROPY } from '../kernels/loss-kernels.js';
import { randomValues } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { sparseSoftmaxCrossEntropy } from './cross-entropy.js';

function reference(logits: ArrayLike<number>, vocabulary: number, targets: number[]): number[] {
  return targets.map((target, row) => {
    const values = Array.from({ length: vocabulary }, (_, v) => logits[row * vocabulary + v] as number);
    const max = Math.max(...values);
    const logSum = max + Math.log(values.reduce((total, value) => total + Math.exp(value - max), 0));
    return logSum - (values[target] as number);
  });
}

const onWasm = tf.getBackend() === 'wasm';

describe.each(onWasm ? ['composite', 'fused wasm kernels'] : ['composite'])('%s', (mode) => {
  const fused = mode !== 'composite';
  beforeAll(() => {
    if (fused) registerFastKernels();
  });
  afterAll(() => {
    if (fused) unregisterFastKernels();
  });

  test('runs the path under test', () => {
    expect(tf.getKernel(SOFTMAX_CROSS_ENTROPY, 'wasm') !== undefined).toBe(fused);
  });

  test('matches the reference in nats', () => {
    const values = randomValues(4 * 5, 1, -3, 3);
    const targets = [0, 4, 2, 2];
    const logits = tf.tensor2d(values, [4, 5]);
    const targetTensor = tf.tensor1d(targets, 'int32');
    const losses = sparseSoftmaxCrossEntropy(logits, targetTensor);
    expect(losses.shape).toEqual([4]);
    expectClose(losses, reference(values, 5, targets), { atol: 1e-5 });
    // Uniform logits give ln V.
    const uniform = tf.zeros([1, 7]) as tf.Tensor2D;
    const zeroTarget = tf.tensor1d([3], 'int32');
    const uniformLoss = sparseSoftmaxCrossEntropy(uniform, zeroTarget);
    expectClose(uniformLoss, [Math.log(7)], { atol: 1e-6 });
    tf.dispose([logits, targetTensor, losses, uniform, zeroTarget, uniformLoss]);
  });

  test('is stable for huge logits (no Infinity or NaN)', () => {
    const logits = tf.tensor2d([[1000, 0, -1000], [-500, 500, 499]]);
    const targets = tf.tensor1d([1, 2], 'int32');
    const losses = sparseSoftmaxCrossEntropy(logits, targets);
    expectClose(losses, [1000, 1 + Math.log(1 + Math.exp(-1))], { atol: 1e-4, rtol: 1e-6 });
    tf.dispose([logits, targets, losses]);
  });

  test('gradient matches finite differences (and is softmax - onehot)', () => {
    const logits = tf.tensor2d(randomValues(3 * 4, 2, -2, 2), [3, 4]);
    const targets = tf.tensor1d([3, 0, 1], 'int32');
    const weights = tf.tensor1d([1, 0.5, 2]);
    checkGradients((l) => tf.sum(tf.mul(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, targets), weights)), [logits]);
    const gradient = tf.grad((l: tf.Tensor) => tf.sum(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, targets)))(logits);
    const expected = tf.tidy(() => tf.sub(tf.softmax(logits), tf.cast(tf.oneHot(targets, 4), 'float32')));
    expectClose(gradient, expected, { atol: 1e-6 });
    tf.dispose([logits, targets, weights, gradient, expected]);
  });

  test('rejects out-of-range targets, float targets and mismatched rows', () => {
    const logits = tf.zeros([2, 3]) as tf.Tensor2D;
    const outOfRange = tf.tensor1d([0, 3], 'int32');
    const floats = tf.tensor1d([0, 1]);
    const tooMany = tf.tensor1d([0, 1, 2], 'int32');
    expect(() => sparseSoftmaxCrossEntropy(logits, outOfRange)).toThrow(/values in \[0, 3\).*3 at row 1/);
    expect(() => sparseSoftmaxCrossEntropy(logits, floats)).toThrow(/int32/);
    expect(() => sparseSoftmaxCrossEntropy(logits, tooMany)).toThrow(/targets/);
    tf.dispose([logits, outOfRange, floats, tooMany]);
  });

  test('checkTargets: false reads nothing back: in-range rows equal the checked result, an out-of-range row is 0', () => {
    const values = randomValues(3 * 4, 5, -2, 2);
    const logits = tf.tensor2d(values, [3, 4]);
    const targets = tf.tensor1d([2, 7, -1], 'int32');
    const unchecked = sparseSoftmaxCrossEntropy(logits, targets, { checkTargets: false });
    expectClose(unchecked, [reference(values, 4, [2])[0] as number, 0, 0], { atol: 1e-5 });
    expect(() => sparseSoftmaxCrossEntropy(logits, targets)).toThrow(/7 at row 1/);
    tf.dispose([logits, targets, unchecked]);
  });

  test('does not leak (forward and backward)', () => {
    const logits = tf.tensor2d(randomValues(6, 3), [2, 3]);
    const targets = tf.tensor1d([2, 0], 'int32');
    expectNoLeak(() => sparseSoftmaxCrossEntropy(logits, targets).dispose());
    expectNoLeak(() => tf.grad((l: tf.Tensor) => tf.mean(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, targets)))(logits).dispose());
    tf.dispose([logits, targets]);
  });
});

describe.skipIf(!onWasm)('fused wasm kernels against the cpu composite', () => {
  beforeAll(() => registerFastKernels());
  afterAll(() => unregisterFastKernels());

  test('odd shapes (V = 2, 3, 5, 130, 257; N = 1, 5, 7, 513), wide value ranges: losses and gradients equal cpu', async () => {
    const cases: [number, number, number][] = [
      [1, 2, 1],
      [7, 3, 4],
      [5, 5, 30],
      [513, 257, 8],
      [7, 130, 60],
    ];
    const run = () =>
      cases.map(([rows, vocabulary, range], index) => {
        const values = randomValues(rows * vocabulary, 40 + index, -range, range);
        const targets = Array.from({ length: rows }, (_, row) => (row * 7 + index) % vocabulary);
        const logits = tf.tensor2d(values, [rows, vocabulary]);
        const ids = tf.tensor1d(targets, 'int32');
        const weights = tf.tensor1d(randomValues(rows, 80 + index, 0.1, 2));
        const losses = sparseSoftmaxCrossEntropy(logits, ids);
        const gradient = tf.grad((l: tf.Tensor) => tf.sum(tf.mul(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, ids), weights)))(logits);
        const result = { losses: Array.from(losses.dataSync()), gradient: Array.from(gradient.dataSync()), reference: reference(values, vocabulary, targets) };
        tf.dispose([logits, ids, weights, losses, gradient]);
        return result;
      });
    const wasm = run();
    await tf.setBackend('cpu');
    let cpu: ReturnType<typeof run>;
    try {
      cpu = run();
    } finally {
      await tf.setBackend('wasm');
    }
    wasm.forEach((result, index) => {
      expectClose(result.losses, result.reference, { atol: 2e-5, rtol: 2e-6, message: `case ${index} against float64` });
      expectClose(result.losses, cpu[index]?.losses as number[], { atol: 2e-5, rtol: 2e-6, message: `case ${index} losses` });
      expectClose(result.gradient, cpu[index]?.gradient as number[], { atol: 2e-6, rtol: 1e-5, message: `case ${index} gradient` });
    });
  });

  test('a vocabulary of one (which the composite cannot build a one-hot for): loss 0, gradient 0', () => {
    const logits = tf.tensor2d([[3.5], [-2]]);
    const ids = tf.tensor1d([0, 0], 'int32');
    const losses = sparseSoftmaxCrossEntropy(logits, ids);
    const gradient = tf.grad((l: tf.Tensor) => tf.sum(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, ids)))(logits);
    expectClose(losses, [0, 0], { atol: 0 });
    expectClose(gradient, [[0], [0]], { atol: 1e-7 });
    tf.dispose([logits, ids, losses, gradient]);
  });
});
