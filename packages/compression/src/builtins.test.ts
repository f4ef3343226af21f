// Tests of the five compression functions of SPEC 3.1 against plain-loop references, plus finite-difference gradients.
import * as tf from '@tensorflow/tfjs';
import { checkGradients, expectClose } from '@engram/kernels/testing';
import { describe, expect, it } from 'vitest';
import {
  createConvCompressor,
  createDilatedConvCompressor,
  createMaxPoolCompressor,
  createMeanPoolCompressor,
  createMostUsedCompressor,
} from './builtins.js';
import type { LayerCompressor } from './compressor.js';
import { InvalidCompressionOptionError, InvalidCompressorInputError } from './errors.js';
import { testCompressor } from './testing/index.js';

testCompressor(() => createMaxPoolCompressor({ rate: 2 }));
testCompressor(() => createMeanPoolCompressor({ rate: 3 }));
testCompressor(({ seed }) => createConvCompressor({ rate: 2, seed }));
testCompressor(({ seed }) => createDilatedConvCompressor({ rate: 3, seed }));
testCompressor(() => createMostUsedCompressor({ rate: 2 }));
testCompressor(({ seed }) => createConvCompressor({ rate: 1, seed }), { name: 'Compressor conformance: conv, rate 1' });

/** Nested `[batch][slot][dim]` arrays of a block with easy-to-read distinct values. */
function block(batch: number, length: number, width: number, seed = 1): number[][][] {
  let state = seed;
  const next = (): number => {
    state = (state * 48271) % 2147483647;
    return Math.fround(Math.round(((state / 2147483647) * 2 - 1) * 1000) / 1000);
  };
  return Array.from({ length: batch }, () => Array.from({ length }, () => Array.from({ length: width }, next)));
}

function positionsFor(batch: number, length: number, start = 5): number[][] {
  return Array.from({ length: batch }, (_, row) => Array.from({ length }, (_, slot) => start + 40 * row + slot));
}

function run(layer: LayerCompressor, hidden: number[][][], positions: number[][], usage?: number[][]) {
  return tf.tidy(() => {
    const output = layer.compress({
      hidden: tf.tensor3d(hidden),
      positions: tf.tensor2d(positions, undefined, 'int32'),
      ...(usage ? { usage: tf.tensor2d(usage) } : {}),
    });
    return { hidden: output.hidden.arraySync(), positions: output.positions.arraySync() };
  });
}

function naiveMeanPositions(positions: number[][], rate: number): number[][] {
  return positions.map((row) => {
    const out: number[] = [];
    for (let start = 0; start < row.length; start += rate) {
      let sum = 0;
      for (let k = 0; k < rate; k++) sum += row[start + k] as number;
      out.push(Math.floor(sum / rate));
    }
    return out;
  });
}

function naivePool(hidden: number[][][], rate: number, reduce: (values: number[]) => number): number[][][] {
  return hidden.map((row) => {
    const out: number[][] = [];
    for (let start = 0; start < row.length; start += rate) {
      const width = (row[0] as number[]).length;
      const slot: number[] = [];
      for (let d = 0; d < width; d++) {
        const values: number[] = [];
        for (let k = 0; k < rate; k++) values.push((row[start + k] as number[])[d] as number);
        slot.push(reduce(values));
      }
      out.push(slot);
    }
    return out;
  });
}

/**
 * Compares the gradient `tf.variableGrads` gives every variable with central finite differences obtained by
 * assigning perturbed values to the variable (float32: epsilon 1e-2, tolerance 3e-3 absolute + relative).
 */
function checkVariableGradients(objective: () => tf.Scalar, variables: tf.Variable[]): void {
  const { value, grads } = tf.variableGrads(objective, variables);
  value.dispose();
  const epsilon = 1e-2;
  for (const variable of variables) {
    const analytic = (grads[variable.name] as tf.Tensor).dataSync();
    const base = variable.dataSync().slice();
    const assign = (values: Float32Array | Int32Array | Uint8Array): void => {
      const tensor = tf.tensor(values, variable.shape);
      variable.assign(tensor);
      tensor.dispose();
    };
    for (let element = 0; element < base.length; element++) {
      const evaluateAt = (delta: number): number => {
        const values = base.slice();
        values[element] = (values[element] as number) + delta;
        assign(values);
        return tf.tidy(() => objective().dataSync()[0] as number);
      };
      const numeric = (evaluateAt(epsilon) - evaluateAt(-epsilon)) / (2 * epsilon);
      assign(base);
      const computed = analytic[element] as number;
      expect(
        Math.abs(computed - numeric),
        `${variable.name}[${element}]: analytic ${computed}, finite difference ${numeric}`,
      ).toBeLessThanOrEqual(3e-3 + 3e-3 * Math.abs(numeric));
    }
  }
  tf.dispose(Object.values(grads));
}

function weightsOf(layer: LayerCompressor): Record<string, number[]> {
  const weights = layer.getWeights();
  const result: Record<string, number[]> = {};
  for (const [name, tensor] of Object.entries(weights)) {
    result[name] = Array.from(tensor.dataSync());
    tensor.dispose();
  }
  return result;
}

describe('max-pool and mean-pool', () => {
  it('max-pool matches a loop reference, positions are the floored block means', () => {
    const layer = createMaxPoolCompressor({ rate: 3 }).build({ modelDim: 4, layer: 0 });
    const hidden = block(2, 6, 4);
    const positions = [
      [3, 4, 5, 6, 7, 8],
      [10, 11, 13, 20, 21, 22],
    ];
    const output = run(layer, hidden, positions);
    expectClose(output.hidden, naivePool(hidden, 3, (values) => Math.max(...values)), { atol: 0, rtol: 0 });
    expect(output.positions).toEqual(naiveMeanPositions(positions, 3));
    expect(output.positions).toEqual([
      [4, 7],
      [11, 21],
    ]);
    layer.dispose();
  });

  it('mean-pool matches a loop reference', () => {
    const layer = createMeanPoolCompressor({ rate: 2 }).build({ modelDim: 3, layer: 0 });
    const hidden = block(2, 8, 3, 7);
    const positions = positionsFor(2, 8);
    const output = run(layer, hidden, positions);
    expectClose(
      output.hidden,
      naivePool(hidden, 2, (values) => values.reduce((a, b) => a + b, 0) / values.length),
    );
    expect(output.positions).toEqual(naiveMeanPositions(positions, 2));
    layer.dispose();
  });

  it('positions stay exact beyond float32 integer precision', () => {
    const layer = createMeanPoolCompressor({ rate: 2 }).build({ modelDim: 1, layer: 0 });
    const big = 2 ** 25;
    const output = run(layer, [[[0], [0], [0], [0]]], [[big + 1, big + 2, big + 3, big + 5]]);
    expect(output.positions).toEqual([[big + 1, big + 4]]);
    layer.dispose();
  });
});

/** conv reference: out[b][j][e] = bias[e] + sum_k sum_d x[b][j*c + k][d] * W[(k*D + d)*D + e]. */
function naiveConv(hidden: number[][][], weight: number[], bias: number[], rate: number): number[][][] {
  const width = bias.length;
  return hidden.map((row) => {
    const out: number[][] = [];
    for (let j = 0; j < row.length / rate; j++) {
      const slot: number[] = [];
      for (let e = 0; e < width; e++) {
        let sum = bias[e] as number;
        for (let k = 0; k < rate; k++) {
          for (let d = 0; d < width; d++) {
            sum += ((row[j * rate + k] as number[])[d] as number) * (weight[(k * width + d) * width + e] as number);
          }
        }
        slot.push(sum);
      }
      out.push(slot);
    }
    return out;
  });
}

describe('conv', () => {
  it('matches a loop reference (kernel = stride = rate, with bias)', () => {
    const layer = createConvCompressor({ rate: 2, seed: 3 }).build({ modelDim: 3, layer: 0 });
    const bias = tf.tensor1d([0.5, -0.25, 0.125]);
    (layer.variables()[1] as tf.Variable).assign(bias);
    bias.dispose();
    const { weight, bias: biasValues } = weightsOf(layer) as { weight: number[]; bias: number[] };
    expect(weight.length).toBe(2 * 3 * 3);
    const hidden = block(2, 6, 3, 11);
    const positions = positionsFor(2, 6);
    const output = run(layer, hidden, positions);
    expectClose(output.hidden, naiveConv(hidden, weight, biasValues, 2), { atol: 1e-5 });
    expect(output.positions).toEqual(naiveMeanPositions(positions, 2));
    layer.dispose();
  });

  it('initialises each layer differently but reproducibly from the seed', () => {
    const compressor = createConvCompressor({ rate: 2, seed: 9 });
    const a0 = compressor.build({ modelDim: 4, layer: 0 });
    const a1 = compressor.build({ modelDim: 4, layer: 1 });
    const b1 = createConvCompressor({ rate: 2, seed: 9 }).build({ modelDim: 4, layer: 1 });
    expect(weightsOf(a1).weight).toEqual(weightsOf(b1).weight);
    expect(weightsOf(a0).weight).not.toEqual(weightsOf(a1).weight);
    const limit = Math.sqrt(6 / (2 * 4 + 4));
    expect(Math.max(...(weightsOf(a0).weight as number[]).map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(weightsOf(a0).bias).toEqual([0, 0, 0, 0]);
    for (const layer of [a0, a1, b1]) layer.dispose();
  });

  it('gradients match finite differences (input and every weight)', () => {
    const layer = createConvCompressor({ rate: 2, seed: 5 }).build({ modelDim: 3, layer: 0 });
    const positions = tf.tensor2d(positionsFor(1, 4), undefined, 'int32');
    const projection = tf.tensor3d(block(1, 2, 3, 17));
    const hidden = tf.tensor3d(block(1, 4, 3, 19));
    const project = (x: tf.Tensor3D): tf.Scalar =>
      tf.sum(tf.mul(layer.compress({ hidden: x, positions }).hidden, projection)) as tf.Scalar;
    checkVariableGradients(() => project(hidden), layer.variables());
    checkGradients((x: tf.Tensor) => project(x as tf.Tensor3D), [hidden], { epsilon: 1e-2, atol: 2e-3, rtol: 2e-3 });
    tf.dispose([positions, projection, hidden]);
    layer.dispose();
  });
});

/** dilated-conv reference with plain loops: causal taps (tap 1 reads `dilation` steps back, zeros before start). */
function naiveDilated(
  hidden: number[][][],
  convolutions: { weight: number[]; bias: number[]; dilation: number }[],
  rate: number,
): number[][][] {
  return hidden.map((row) => {
    const width = (row[0] as number[]).length;
    let current = row.map((slot) => [...slot]);
    convolutions.forEach(({ weight, bias, dilation }, index) => {
      const next = current.map((slot, t) => {
        const out: number[] = [];
        for (let e = 0; e < width; e++) {
          let sum = bias[e] as number;
          for (let tap = 0; tap < 2; tap++) {
            const source = t - tap * dilation;
            if (source < 0) continue;
            for (let d = 0; d < width; d++) {
              sum += ((current[source] as number[])[d] as number) * (weight[(tap * width + d) * width + e] as number);
            }
          }
          if (index < convolutions.length - 1) sum = Math.max(0, sum);
          out.push((slot[e] as number) + sum);
        }
        return out;
      });
      current = next;
    });
    const out: number[][] = [];
    for (let j = 0; j < row.length / rate; j++) out.push(current[j * rate + rate - 1] as number[]);
    return out;
  });
}

describe('dilated-conv', () => {
  it('matches a loop reference (residual causal stack, dilations [1, 2, 4], last token of each block)', () => {
    const layer = createDilatedConvCompressor({ rate: 3, seed: 2 }).build({ modelDim: 3, layer: 0 });
    // Non-zero biases so the ReLU and bias paths are exercised.
    layer.variables().forEach((variable, index) => {
      if (variable.rank === 1) {
        const value = tf.tensor1d([0.1 * index, -0.2, 0.05]);
        variable.assign(value);
        value.dispose();
      }
    });
    const weights = weightsOf(layer);
    const convolutions = [1, 2, 4].map((dilation, index) => ({
      dilation,
      weight: weights[`conv${index}.weight`] as number[],
      bias: weights[`conv${index}.bias`] as number[],
    }));
    const hidden = block(2, 9, 3, 23);
    const positions = positionsFor(2, 9);
    const output = run(layer, hidden, positions);
    expectClose(output.hidden, naiveDilated(hidden, convolutions, 3), { atol: 1e-5 });
    expect(output.positions).toEqual(naiveMeanPositions(positions, 3));
    layer.dispose();
  });

  it('reaches into earlier blocks of the evicted span but never forward', () => {
    const layer = createDilatedConvCompressor({ rate: 2, seed: 4 }).build({ modelDim: 2, layer: 0 });
    const hidden = block(1, 8, 2, 29);
    const base = run(layer, hidden, positionsFor(1, 8)).hidden[0] as number[][];
    // Change memory 1 (block 0): with receptive field 1 + 1 + 2 + 4 = 8 every later slot may change.
    const changedEarly = hidden.map((row) => row.map((slot, t) => (t === 1 ? slot.map((v) => v + 1) : slot)));
    const early = run(layer, changedEarly, positionsFor(1, 8)).hidden[0] as number[][];
    expect(early[2]).not.toEqual(base[2]);
    // Change memory 6 (block 3): slots of blocks 0..2 must not change.
    const changedLate = hidden.map((row) => row.map((slot, t) => (t === 6 ? slot.map((v) => v + 1) : slot)));
    const late = run(layer, changedLate, positionsFor(1, 8)).hidden[0] as number[][];
    expectClose(late.slice(0, 3), base.slice(0, 3), { atol: 0, rtol: 0 });
    expect(late[3]).not.toEqual(base[3]);
    layer.dispose();
  });

  it('gradients match finite differences (input and every weight)', () => {
    const layer = createDilatedConvCompressor({ rate: 2, dilations: [1, 2], seed: 8 }).build({
      modelDim: 2,
      layer: 0,
    });
    const variables = layer.variables();
    const positions = tf.tensor2d(positionsFor(1, 4), undefined, 'int32');
    const projection = tf.tensor3d(block(1, 2, 2, 31));
    const hidden = tf.tensor3d(block(1, 4, 2, 37));
    const objective = (): tf.Scalar =>
      tf.sum(tf.mul(layer.compress({ hidden, positions }).hidden, projection)) as tf.Scalar;
    checkVariableGradients(objective, variables);
    // Gradient with respect to the input block.
    checkGradients(
      (x: tf.Tensor) =>
        tf.sum(tf.mul(layer.compress({ hidden: x as tf.Tensor3D, positions }).hidden, projection)) as tf.Scalar,
      [hidden],
      { epsilon: 1e-2, atol: 3e-3, rtol: 3e-3 },
    );
    tf.dispose([positions, projection, hidden]);
    layer.dispose();
  });

  it('rejects bad dilations', () => {
    expect(() => createDilatedConvCompressor({ rate: 2, dilations: [] })).toThrow(InvalidCompressionOptionError);
    expect(() => createDilatedConvCompressor({ rate: 2, dilations: [1, 0] })).toThrow(/dilations/);
  });
});

/** most-used reference: the n/c highest usages (ties: earlier first), returned in temporal order. */
function naiveMostUsed(usage: number[], keep: number): number[] {
  const order = usage.map((value, index) => ({ value, index }));
  order.sort((a, b) => b.value - a.value || a.index - b.index);
  return order
    .slice(0, keep)
    .map((entry) => entry.index)
    .sort((a, b) => a - b);
}

describe('most-used', () => {
  it('keeps the highest-usage memories in temporal order, at their own positions', () => {
    const layer = createMostUsedCompressor({ rate: 3 }).build({ modelDim: 2, layer: 0 });
    const hidden = block(2, 6, 2, 41);
    const positions = [
      [10, 11, 12, 13, 14, 15],
      [50, 51, 52, 53, 54, 55],
    ];
    const usage = [
      [0.1, 0.9, 0.2, 0.3, 0.8, 0.05],
      [0.7, 0.1, 0.1, 0.1, 0.1, 0.6],
    ];
    const output = run(layer, hidden, positions, usage);
    const chosen = usage.map((row) => naiveMostUsed(row, 2));
    expect(chosen).toEqual([
      [1, 4],
      [0, 5],
    ]);
    expect(output.positions).toEqual(chosen.map((row, b) => row.map((index) => (positions[b] as number[])[index])));
    expect(output.hidden).toEqual(chosen.map((row, b) => row.map((index) => (hidden[b] as number[][])[index])));
    layer.dispose();
  });

  it('agrees with the reference on random usages, ties going to the earlier memory', () => {
    const layer = createMostUsedCompressor({ rate: 2 }).build({ modelDim: 1, layer: 0 });
    let state = 3;
    for (let trial = 0; trial < 5; trial++) {
      const usage = [0, 1, 2].map(() =>
        Array.from({ length: 8 }, () => {
          state = (state * 16807) % 2147483647;
          return (state % 5) / 4; // few distinct values: many ties
        }),
      );
      const hidden = usage.map((row) => row.map((_, index) => [index]));
      const output = run(layer, hidden, positionsFor(3, 8, 0), usage);
      const expected = usage.map((row) => naiveMostUsed(row, 4));
      expect(output.hidden.map((row) => row.map((slot) => slot[0]))).toEqual(expected);
    }
    layer.dispose();
  });

  it('needs usage', () => {
    const layer = createMostUsedCompressor({ rate: 2 }).build({ modelDim: 2, layer: 0 });
    expect(() => run(layer, block(1, 4, 2), positionsFor(1, 4))).toThrow(InvalidCompressorInputError);
    layer.dispose();
  });
});

describe('factories', () => {
  it('reject a bad rate or seed with the option named', () => {
    expect(() => createMaxPoolCompressor({ rate: 0 })).toThrow(/option "rate"/);
    expect(() => createConvCompressor({ rate: 2.5 })).toThrow(InvalidCompressionOptionError);
    expect(() => createConvCompressor({ rate: 2, seed: 0.5 })).toThrow(/option "seed"/);
  });

  it('report a JSON config that recreates them', () => {
    expect(createDilatedConvCompressor({ rate: 3, seed: 1 }).config()).toEqual({
      kind: 'dilated-conv',
      rate: 3,
      dilations: [1, 2, 4],
      seed: 1,
    });
    expect(createMostUsedCompressor({ rate: 2 }).config()).toEqual({ kind: 'most-used', rate: 2 });
  });
});
