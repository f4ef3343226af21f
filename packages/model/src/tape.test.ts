// Tests of the low-peak reverse pass: same gradients as tfjs's, freed intermediates, released shape-only saves, no leaks.
import * as tf from '@tensorflow/tfjs';
import { expectNoLeak } from '@engram/kernels/testing';
import { describe, expect, test } from 'vitest';
import { lowPeakGradients } from './tape.js';

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

/**
 * A scalar touching many gradient shapes: broadcasting add and multiply, a matmul, reshapes, concat and slice, a
 * relu, a source used twice, a custom op returning its dy unchanged for two inputs, and a split whose second part
 * is unused (a null dy).
 */
function mixed(a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor): tf.Scalar {
  const passThrough = tf.customGrad((...args) => {
    const [x, y] = args as [tf.Tensor, tf.Tensor];
    return { value: tf.add(x, y), gradFunc: (dy: tf.Tensor) => [dy, dy] };
  });
  const product = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
  const biased = tf.relu(tf.add(product, bias));
  const joined = tf.concat([biased, tf.mul(biased, a.slice([0, 0], [4, 3]))], 1);
  const reshaped = tf.reshape(tf.expandDims(joined, 0), [2, 2, 6]);
  const [kept] = tf.split(reshaped, [4, 2], 2);
  const shared = passThrough(tf.sub(tf.reshape(kept as tf.Tensor, [4, 4]), 0.5), tf.pad(a, [[0, 0], [0, 1]]));
  return tf.sum(tf.mul(tf.square(shared), tf.sum(a))) as tf.Scalar;
}

describe('lowPeakGradients', () => {
  test('gives the gradients and value of tf.engine().gradients, bit for bit, and leaks nothing', () => {
    const a = seeded([4, 3], 1);
    const b = seeded([3, 3], 2);
    const bias = seeded([3], 3);
    const sources = [a, b, bias];
    const reference = tf.engine().gradients(() => mixed(a, b, bias), sources);
    {
      const ours = lowPeakGradients(() => mixed(a, b, bias), sources);
      expect(ours.value.dataSync()).toEqual(reference.value.dataSync());
      ours.grads.forEach((gradient, index) => {
        expect(gradient).not.toBeNull();
        expect((gradient as tf.Tensor).shape).toEqual((sources[index] as tf.Tensor).shape);
        expect((gradient as tf.Tensor).dataSync()).toEqual((reference.grads[index] as tf.Tensor).dataSync());
      });
      tf.dispose([ours.value, ...(ours.grads as tf.Tensor[])]);
    }
    tf.dispose([reference.value, ...reference.grads]);
    expectNoLeak(() => {
      const { value, grads } = lowPeakGradients(() => mixed(a, b, bias), sources);
      tf.dispose([value, ...(grads as tf.Tensor[])]);
    });
    tf.dispose(sources);
  });

  test('matches finite differences, takes a seed dy, and gives null for a source f does not use', () => {
    const x = seeded([5], 4);
    const unused = seeded([2], 5);
    const f = (input: tf.Tensor) => tf.mul(tf.sin(input), tf.exp(tf.mul(input, 0.3)));
    const seed = tf.tensor1d([1, -2, 0.5, 3, 0.25]);
    const { value, grads } = lowPeakGradients(() => f(x), [x, unused], seed);
    expect(grads[1]).toBeNull();
    const analytic = (grads[0] as tf.Tensor).dataSync();
    const values = x.dataSync();
    const weights = seed.dataSync();
    const step = 1e-2;
    values.forEach((_, index) => {
      const shifted = (delta: number) =>
        tf.tidy(() => {
          const moved = values.slice();
          moved[index] = (moved[index] as number) + delta;
          return tf.sum(tf.mul(f(tf.tensor1d(moved)), seed)).dataSync()[0] as number;
        });
      const numeric = (shifted(step) - shifted(-step)) / (2 * step);
      expect(Math.abs((analytic[index] as number) - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
    });
    expect(weights).toEqual(seed.dataSync());
    expect(seed.isDisposed).toBe(false);
    tf.dispose([value, grads[0] as tf.Tensor, x, unused, seed]);
  });

  test('keeps a few gradients alive at a time, not all of them: the peak of a 24-op chain is far below tfjs\'s', async () => {
    const x = seeded([256, 256], 6);
    // An op that saves nothing; the chain disposes each intermediate once the next exists, so the forward pass holds
    // about two [256, 256] tensors and the backward pass is what differs.
    const scaled = tf.customGrad((...args) => {
      const input = args[0] as tf.Tensor;
      return { value: tf.mul(input, 1.01), gradFunc: (dy: tf.Tensor) => tf.mul(dy, 1.01) };
    });
    const chain = () => {
      let y: tf.Tensor = x;
      for (let index = 0; index < 24; index++) {
        const next = scaled(y);
        if (y !== x) y.dispose();
        y = next;
      }
      return tf.sum(y) as tf.Scalar;
    };
    const peakOf = async (run: () => { value: tf.Tensor; grads: Array<tf.Tensor | null> }) => {
      let result: { value: tf.Tensor; grads: Array<tf.Tensor | null> } | undefined;
      const info = await tf.profile(() => {
        result = run();
      });
      const out = result as { value: tf.Tensor; grads: Array<tf.Tensor | null> };
      const gradient = (out.grads[0] as tf.Tensor).dataSync().slice();
      tf.dispose([out.value, ...(out.grads as tf.Tensor[])]);
      return { peak: info.peakBytes - x.size * 4, gradient };
    };
    const stock = await peakOf(() => tf.engine().gradients(chain, [x]));
    const ours = await peakOf(() => lowPeakGradients(chain, [x]));
    expect(ours.gradient).toEqual(stock.gradient);
    const layer = x.size * 4;
    // tfjs keeps the 24 gradients (and the ones of the forward scope's outputs) until the end.
    expect(stock.peak).toBeGreaterThan(24 * layer);
    expect(ours.peak).toBeLessThan(5 * layer);
    x.dispose();
  });

  test('inside an outer gradient (second order) gives the same result as nested tf.grad', () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const cube = (input: tf.Tensor) => tf.sum(tf.pow(input, 3)) as tf.Scalar;
    const outer = (input: tf.Tensor) => {
      const { value, grads } = lowPeakGradients(() => cube(input), [input]);
      value.dispose();
      return tf.sum(grads[0] as tf.Tensor) as tf.Scalar;
    };
    const ours = tf.grad(outer)(x);
    const reference = tf.grad((input: tf.Tensor) => tf.sum(tf.grad(cube)(input)) as tf.Scalar)(x);
    expect(Array.from(ours.dataSync())).toEqual(Array.from(reference.dataSync()));
    expect(Array.from(ours.dataSync())).toEqual([3, -6, 12]);
    tf.dispose([x, ours, reference]);
  });

  test('puts the engine back as it was when f throws, leaks nothing then, and the next computation still works', () => {
    const engine = tf.engine() as unknown as Record<string, unknown>;
    const hadOwn = Object.prototype.hasOwnProperty.call(engine, 'addTapeNode');
    const x = tf.tensor1d([1, 2]);
    expectNoLeak(() => {
      expect(() =>
        lowPeakGradients(() => {
          tf.reshape(tf.mul(tf.exp(x), 2), [2, 1]);
          throw new Error('boom');
        }, [x]),
      ).toThrow('boom');
    });
    expect(Object.prototype.hasOwnProperty.call(engine, 'addTapeNode')).toBe(hadOwn);
    const { value, grads } = lowPeakGradients(() => tf.sum(tf.reshape(tf.square(x), [2, 1])) as tf.Scalar, [x]);
    expect(Array.from((grads[0] as tf.Tensor).dataSync())).toEqual([2, 4]);
    tf.dispose([value, grads[0] as tf.Tensor, x]);
  });

  test('refuses an empty source list and a dy of the wrong shape or dtype', () => {
    const x = tf.scalar(2);
    expect(() => lowPeakGradients(() => tf.square(x), [])).toThrow(/sources is empty/);
    const wrong = tf.tensor1d([1, 2]);
    expect(() => lowPeakGradients(() => tf.square(x), [x], wrong)).toThrow(/dy must be float32 of shape \[\]/);
    tf.dispose([x, wrong]);
  });
});

/** Runs `f` and counts the kernels it dispatches by name. */
function dispatchesOf(f: () => void): Map<string, number> {
  const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const runKernel = engine.runKernel;
  const counts = new Map<string, number>();
  engine.runKernel = function (this: unknown, name: string, ...rest: unknown[]) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return runKernel.call(this, name, ...rest);
  };
  try {
    f();
  } finally {
    engine.runKernel = runKernel;
  }
  return counts;
}

describe('saved tensors', () => {
  test('are second handles on the saved buffers: no Identity dispatch beyond the function\'s own, and tfjs\'s clone is back afterwards', () => {
    const a = seeded([4, 3], 11);
    const b = seeded([3, 3], 12);
    const bias = seeded([3], 13);
    const sources = [a, b, bias];
    const alone = dispatchesOf(() => tf.tidy(() => mixed(a, b, bias))).get(tf.Identity) ?? 0;
    let stock: { value: tf.Tensor; grads: tf.Tensor[] } | undefined;
    const stockIdentities = dispatchesOf(() => {
      stock = tf.engine().gradients(() => mixed(a, b, bias), sources);
    }).get(tf.Identity) ?? 0;
    let ours: { value: tf.Tensor; grads: Array<tf.Tensor | null> } | undefined;
    const forward = dispatchesOf(() => {
      ours = lowPeakGradients(() => mixed(a, b, bias), sources);
    });
    // tfjs copies every saved tensor with an Identity kernel; here the backward pass's own Identity dispatches (the
    // custom op's gradient passes dy through) are all that remain beyond the function's.
    expect(stockIdentities).toBeGreaterThan(alone + 5);
    expect(forward.get(tf.Identity) ?? 0).toBeLessThanOrEqual(alone + 2);
    expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'clone')).toBe(false);
    const reference = stock as { value: tf.Tensor; grads: tf.Tensor[] };
    const result = ours as { value: tf.Tensor; grads: Array<tf.Tensor | null> };
    result.grads.forEach((gradient, index) => expect((gradient as tf.Tensor).dataSync()).toEqual((reference.grads[index] as tf.Tensor).dataSync()));
    tf.dispose([reference.value, ...reference.grads, result.value, ...(result.grads as tf.Tensor[])]);
    expect(() => lowPeakGradients(() => {
      tf.exp(a);
      throw new Error('boom');
    }, sources)).toThrow('boom');
    expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'clone')).toBe(false);
    tf.dispose(sources);
  });
});

describe('shape-only saves', () => {
  test('reshape, add, sub, concat, slice, expandDims and pad keep no saved copy in the forward pass; multiply keeps its two', () => {
    const a = seeded([2, 3], 7);
    const added: Record<string, number> = {};
    const count = (name: string, op: () => tf.Tensor): tf.Tensor => {
      const before = tf.memory().numTensors;
      const result = op();
      added[name] = tf.memory().numTensors - before;
      return result;
    };
    const f = (input: tf.Tensor, counted: boolean) => {
      const run = counted ? count : (_: string, op: () => tf.Tensor) => op();
      const shifted = run('add', () => tf.add(input, 1));
      const lowered = run('sub', () => tf.sub(shifted, input));
      const reshaped = run('reshape', () => tf.reshape(lowered, [3, 2]));
      const total = tf.sum(input, 0);
      const column = run('expandDims', () => tf.expandDims(total, 1));
      const joined = run('concat', () => tf.concat([reshaped, column], 1));
      const cut = run('slice', () => tf.slice(joined, [0, 0], [3, 2]));
      const padded = run('pad', () => tf.pad(cut, [[1, 0], [0, 0]]));
      return tf.sum(run('multiply', () => tf.mul(padded, padded))) as tf.Scalar;
    };
    const { value, grads } = lowPeakGradients(() => f(a, true), [a]);
    // One tensor each, the output (tf.engine().gradients would add one or two saved copies); multiply adds its two.
    expect(added).toEqual({ add: 1, sub: 1, reshape: 1, expandDims: 1, concat: 1, slice: 1, pad: 1, multiply: 3 });
    const reference = tf.grad((input: tf.Tensor) => f(input, false))(a);
    expect(Array.from((grads[0] as tf.Tensor).dataSync())).toEqual(Array.from(reference.dataSync()));
    tf.dispose([value, grads[0] as tf.Tensor, reference, a]);
  });
});
