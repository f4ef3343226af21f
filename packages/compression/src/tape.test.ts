// Tests of outsideTape: code run off an enclosing gradient tape gives constants, may take gradients of its own, and the tape resumes.
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { describe, expect, it } from 'vitest';
import { outsideTape } from './tape.js';

type EngineState = { gradientDepth: number; activeTape: unknown };
const engineState = (): EngineState => (tf.engine() as unknown as { state: EngineState }).state;

describe('outsideTape', () => {
  it('makes its results constants of an enclosing gradient: d/dx [x^2 + c(x)] = 2x when c runs outside the tape', () => {
    const x = tf.tensor1d([1.5, -2, 0.25]);
    const gradient = tf.grad((input: tf.Tensor) => {
      const constant = outsideTape(() => tf.mul(input, 3));
      return tf.sum(tf.add(tf.square(input), constant));
    })(x);
    expectClose(gradient, [3, -4, 0.5]);
    tf.dispose([x, gradient]);
  });

  it('runs a gradient of its own inside an enclosing one, records none of it there, and leaks nothing', () => {
    const x = tf.tensor1d([0.5, 2]);
    const before = tf.memory().numTensors;
    let inner: number[] = [];
    let recordedInside = -1;
    const outer = tf.grad((input: tf.Tensor) => {
      const tapeBefore = (engineState().activeTape as unknown[]).length;
      const slope = outsideTape(() => {
        // d/dy sum(y^3) = 3 y^2, computed on a tape of its own.
        const { value, grads } = tf.valueAndGrads((y: tf.Tensor) => tf.sum(tf.pow(y, 3)) as tf.Scalar)([input]);
        value.dispose();
        return grads[0] as tf.Tensor;
      });
      recordedInside = (engineState().activeTape as unknown[]).length - tapeBefore;
      inner = Array.from(slope.dataSync());
      return tf.sum(tf.mul(input, slope));
    })(x);
    expect(inner).toEqual([0.75, 12]);
    expect(recordedInside).toBe(0);
    // The slope is a constant of the outer gradient: d/dx sum(x * s) = s.
    expectClose(outer, [0.75, 12]);
    outer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(engineState().gradientDepth).toBe(0);
    x.dispose();
  });

  it('puts the enclosing tape back when the code throws', () => {
    const x = tf.scalar(2);
    let depthInside = -1;
    let depthAfter = -1;
    const gradient = tf.grad((input: tf.Tensor) => {
      expect(() =>
        outsideTape(() => {
          depthInside = engineState().gradientDepth;
          throw new Error('inside');
        }),
      ).toThrow('inside');
      depthAfter = engineState().gradientDepth;
      return tf.square(input);
    })(x);
    expect(depthInside).toBe(0);
    expect(depthAfter).toBe(1);
    expectClose(gradient, 4);
    tf.dispose([x, gradient]);
  });

  it('outside any gradient computation simply calls the function', () => {
    expect(outsideTape(() => 7)).toBe(7);
    const value = outsideTape(() => tf.add(tf.scalar(1), tf.scalar(2)));
    expectClose(value, 3);
    value.dispose();
  });
});
