// Tests that Adam's state (moments, iteration count, running beta powers) is restored exactly, so later updates match bit for bit.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { captureOptimizerState, restoreOptimizerState, setLearningRate } from './optimizer-state.js';

function quadraticGradients(variable: tf.Variable, target: tf.Tensor): tf.NamedTensorMap {
  return tf.tidy(() => ({ [variable.name]: tf.mul(2, tf.sub(variable, target)) }));
}

function step(optimizer: tf.Optimizer, variable: tf.Variable, target: tf.Tensor): void {
  const gradients = quadraticGradients(variable, target);
  optimizer.applyGradients(gradients);
  tf.dispose(gradients);
}

describe('optimizer state', () => {
  it('restores Adam so that later updates are bit-identical', async () => {
    const before = tf.memory().numTensors;
    const target = tf.tensor1d([0.3, -1.7, 2.25, 0.01]);
    const original = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, -3, 4]), true, 'optimizer-test/original'));
    const copy = tf.tidy(() => tf.variable(tf.tensor1d([0, 0, 0, 0]), true, 'optimizer-test/copy'));
    const adam = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    for (let index = 0; index < 20; index += 1) step(adam, original, target);

    const snapshot = await captureOptimizerState(adam, 'main');
    expect(snapshot.meta.className).toBe('Adam');
    expect(snapshot.meta.weightNames[0]).toBe('iter');
    expect(snapshot.meta.betaPowers).toEqual(['accBeta1', 'accBeta2']);
    expect(Object.keys(snapshot.tensors).sort()).toEqual(
      ['main.accBeta1', 'main.accBeta2', 'main.weight.0', 'main.weight.1', 'main.weight.2'].sort(),
    );
    copy.assign(original);
    const resumed = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    // The moments are keyed by position in the gradient map, so the variable name may differ.
    await restoreOptimizerState(resumed, snapshot, 'main');
    tf.dispose(Object.values(snapshot.tensors));
    expect(resumed.iterations).toBe(20);

    setLearningRate(adam, 0.02);
    setLearningRate(resumed, 0.02);
    for (let index = 0; index < 5; index += 1) {
      step(adam, original, target);
      step(resumed, copy, target);
      expect(Array.from(copy.dataSync())).toEqual(Array.from(original.dataSync()));
    }
    adam.dispose();
    resumed.dispose();
    tf.dispose([target, original, copy]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('needs the saved beta powers: tfjs setWeights alone recomputes them with pow, which differs in float32', async () => {
    const variable = tf.tidy(() => tf.variable(tf.tensor1d([1, -1]), true, 'optimizer-test/powers'));
    const target = tf.tensor1d([0, 0]);
    const adam = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    for (let index = 0; index < 20; index += 1) step(adam, variable, target);
    const weights = await adam.getWeights();
    const plain = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    await plain.setWeights(weights.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) })));
    weights[0]?.tensor.dispose();
    const running = (adam as unknown as { accBeta2: tf.Variable }).accBeta2.dataSync()[0];
    const recomputed = (plain as unknown as { accBeta2: tf.Variable }).accBeta2.dataSync()[0];
    // 0.999^21 as a running float32 product vs pow(0.999, 21): not the same float.
    expect(recomputed).not.toBe(running);
    const snapshot = await captureOptimizerState(adam, 'main');
    const exact = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    await restoreOptimizerState(exact, snapshot, 'main');
    expect((exact as unknown as { accBeta2: tf.Variable }).accBeta2.dataSync()[0]).toBe(running);
    tf.dispose(Object.values(snapshot.tensors));
    [adam, plain, exact].forEach((optimizer) => optimizer.dispose());
    tf.dispose([variable, target]);
  });

  it('applies a changed learning rate on the next update', () => {
    const variable = tf.variable(tf.scalar(1), true, 'optimizer-test/sgd');
    const sgd = tf.train.sgd(0.1);
    setLearningRate(sgd, 0.5);
    const gradient = tf.scalar(1);
    sgd.applyGradients({ [variable.name]: gradient });
    gradient.dispose();
    expect(variable.dataSync()[0]).toBeCloseTo(0.5, 6);
    sgd.dispose();
    variable.dispose();
  });

  it('refuses to restore into an optimizer that already moved, or of another class', async () => {
    const variable = tf.variable(tf.scalar(1), true, 'optimizer-test/used');
    const target = tf.scalar(0);
    const used = tf.train.adam(0.1);
    step(used, variable, target);
    const snapshot = await captureOptimizerState(used, 'main');
    await expect(restoreOptimizerState(used, snapshot, 'main')).rejects.toThrow(/freshly created/);
    const sgd = tf.train.sgd(0.1);
    await expect(restoreOptimizerState(sgd, snapshot, 'main')).rejects.toThrow(/saved as Adam/);
    tf.dispose(Object.values(snapshot.tensors));
    used.dispose();
    sgd.dispose();
    tf.dispose([variable, target]);
  });
});
