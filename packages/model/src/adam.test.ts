// createAdam's fused update equals tfjs's AdamOptimizer bit for bit (wasm with the Engram kernel, and the cpu backend), keeps tfjs's state layout, and leaks nothing.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { expectNoLeak } from '@engram/kernels/testing';
import { createAdam, FusedAdamOptimizer } from './adam.js';

const shapes: number[][] = [[3, 5], [7], [1, 1], [33, 17]];

/** Runs 4 Adam steps on fresh variables with seeded gradients; returns the values, moments and beta powers. */
async function run(makeOptimizer: () => tf.Optimizer, prefix: string): Promise<number[][]> {
  const variables = shapes.map((shape, index) => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 10 + index), true, `${prefix}${index}`));
  const optimizer = makeOptimizer();
  for (let step = 0; step < 4; step++) {
    const gradients: tf.NamedTensorMap = {};
    variables.forEach((variable, index) => {
      // Variable 1 has a null gradient on odd steps (its slot stays; its moments must not change).
      gradients[variable.name] =
        index === 1 && step % 2 === 1 ? (null as unknown as tf.Tensor) : tf.randomNormal(variable.shape, 0, 1 + step, 'float32', 100 * step + index + 1);
    });
    optimizer.applyGradients(gradients);
    tf.dispose(Object.values(gradients).filter((gradient) => gradient !== null));
  }
  const weights = await optimizer.getWeights();
  const internals = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  const result = [
    ...variables.map((variable) => Array.from(variable.dataSync())),
    ...weights.map((weight) => Array.from(weight.tensor.dataSync())),
    Array.from(internals.accBeta1.dataSync()),
    Array.from(internals.accBeta2.dataSync()),
  ];
  weights[0]?.tensor.dispose(); // the iteration count scalar getWeights made
  optimizer.dispose();
  tf.dispose(variables);
  return result;
}

const fused = () => createAdam({ learningRate: 3e-3, beta1: 0.85, beta2: 0.995, epsilon: 1e-8 });
const stock = () => tf.train.adam(3e-3, 0.85, 0.995, 1e-8);

describe('createAdam', () => {
  test('is a tfjs Adam (same class name and config), so checkpoints and fromConfig keep working', () => {
    const optimizer = fused();
    expect(optimizer).toBeInstanceOf(tf.AdamOptimizer);
    expect(optimizer).toBeInstanceOf(FusedAdamOptimizer);
    expect(optimizer.getClassName()).toBe('Adam');
    const copy = (optimizer.constructor as typeof FusedAdamOptimizer).fromConfig(FusedAdamOptimizer, optimizer.getConfig());
    expect(copy).toBeInstanceOf(FusedAdamOptimizer);
    expect(copy.getConfig()).toEqual(optimizer.getConfig());
    optimizer.dispose();
    (copy as tf.Optimizer).dispose();
  });

  test('equals tfjs Adam bit for bit on this backend, and the cpu backend within float32 rounding', async () => {
    const backend = tf.getBackend();
    if (backend === 'wasm') expect(tf.getKernel('EngramAdamUpdate', 'wasm')).toBeDefined(); // the fused path runs
    const ours = await run(fused, 'fused');
    const theirs = await run(stock, 'stock');
    expect(ours.length).toBe(theirs.length);
    ours.forEach((values, index) => expect(values, `entry ${index}`).toEqual(theirs[index]));
    await tf.setBackend('cpu');
    const cpu = await run(stock, 'cpu');
    await tf.setBackend(backend);
    ours.forEach((values, index) =>
      values.forEach((value, position) => expect(Math.abs(value - (cpu[index]?.[position] as number)), `entry ${index}[${position}]`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(value)))),
    );
  });

  test('a step creates no lasting tensors beyond its moments', async () => {
    const variable = tf.variable(tf.ones([4, 3]), true, 'leakCheck');
    const optimizer: tf.Optimizer = fused();
    const gradient = tf.ones([4, 3]);
    const gradients: tf.NamedTensorMap = { [variable.name]: gradient };
    optimizer.applyGradients(gradients); // creates the two moments
    expectNoLeak(() => optimizer.applyGradients(gradients));
    optimizer.dispose();
    tf.dispose([variable, gradient]);
  });

  test('rejects a missing or non-positive learning rate', () => {
    expect(() => createAdam({ learningRate: 0 })).toThrow(/learningRate/);
    expect(() => createAdam(undefined as unknown as { learningRate: number })).toThrow(/learningRate/);
  });
});
