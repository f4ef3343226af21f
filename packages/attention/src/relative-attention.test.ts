// Tests of relative attention: both position paths vs the naive reference, masks, gradients, leaks, errors.
import * as tf from '@tensorflow/tfjs';
import { checkGradients, expectClose, expectNoLeak } from '@engram/kernels/testing';
import { describe, expect, test, vi } from 'vitest';
import { AttentionConfigError, AttentionInputError } from './errors.js';
import { createRandom, seededNormal } from './init.js';
import { createPositionBiases, createRelativeAttention, distinctDistanceSlots, type AttentionInput, type AttentionRandomState, type RelativeAttention } from './relative-attention.js';
import { naiveRelativeAttention } from './testing/naive.js';

const modelDim = 8;
const numHeads = 2;

/** An attention layer with weights large enough that scores are far from uniform. */
function layer(clampLength = 100, seed = 3): RelativeAttention {
  return createRelativeAttention({ modelDim, numHeads, clampLength, namePrefix: 'test.attention', seed, initStandardDeviation: 0.4 });
}

function positions(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, undefined, 'int32');
}

/** Contiguous [memory; current] layout: M memories then T queries starting at `start`. */
function contiguousInput(batch: number, memory: number, queries: number, start: number, seed: number): AttentionInput {
  const keyCount = memory + queries;
  const keys = seededNormal([batch, keyCount, modelDim], 1, seed, 'keys') as tf.Tensor3D;
  const queryTensor = tf.slice(keys, [0, memory, 0], [-1, queries, -1]) as tf.Tensor3D;
  const keyRow = Array.from({ length: keyCount }, (_, j) => start - memory + j);
  const queryRow = keyRow.slice(memory);
  return {
    queries: queryTensor,
    keys,
    queryPositions: positions(Array.from({ length: batch }, () => queryRow)),
    keyPositions: positions(Array.from({ length: batch }, () => keyRow)),
    contiguous: true,
  };
}

/** Queries at 20, 21, 22; row 0: sparse old memories 1, 9, 17; row 1: memories 3, 19 and a key at 21, in the future of the first query. */
function sparseInput(seed: number): AttentionInput {
  const keys = seededNormal([2, 6, modelDim], 1, seed, 'keys') as tf.Tensor3D;
  return {
    queries: tf.slice(keys, [0, 3, 0], [-1, 3, -1]) as tf.Tensor3D,
    keys,
    queryPositions: positions([
      [20, 21, 22],
      [20, 21, 22],
    ]),
    keyPositions: positions([
      [1, 9, 17, 20, 21, 22],
      [3, 21, 19, 20, 21, 22],
    ]),
    contiguous: false,
  };
}

function disposeInput(input: AttentionInput): void {
  for (const tensor of [input.queries, input.keys, input.queryPositions, input.keyPositions, input.softMask]) tensor?.dispose();
}

function compareWithNaive(attention: RelativeAttention, input: AttentionInput, atol = 1e-5): void {
  const naive = naiveRelativeAttention(attention, input);
  const result = attention.apply({ ...input, returnProbabilities: true });
  expectClose(result.probabilities!, naive.probabilities, { atol, rtol: 1e-4, message: 'probabilities' });
  expectClose(result.output, naive.output, { atol, rtol: 1e-4, message: 'output' });
  result.output.dispose();
  result.probabilities?.dispose();
}

describe('RelativeAttention vs the naive reference', () => {
  test.each([
    ['no memory', 0, 4, 0],
    ['with memory', 5, 3, 5],
    ['memory longer than the clamp', 6, 3, 40],
  ])('contiguous keys, %s: rel-shift path and gather path both equal the reference', (_, memory, queries, start) => {
    const attention = layer(start === 40 ? 4 : 100);
    const input = contiguousInput(2, memory, queries, start, 11);
    compareWithNaive(attention, input);
    compareWithNaive(attention, { ...input, contiguous: false });
    const fast = attention.apply(input);
    const gathered = attention.apply({ ...input, contiguous: false });
    expectClose(fast.output, gathered.output, { atol: 1e-5, rtol: 1e-5, message: 'rel-shift vs gather' });
    tf.dispose([fast.output, gathered.output]);
    disposeInput(input);
    attention.dispose();
  });

  test('arbitrary key positions per row (compressed slots, pruned memories), gather path', () => {
    const attention = layer(6);
    const input = sparseInput(5);
    compareWithNaive(attention, input);
    disposeInput(input);
    attention.dispose();
  });

  test.each([
    ['per row [B, 1, T, K]', [2, 1, 3, 7]],
    ['per head [1, H, T, K]', [1, numHeads, 3, 7]],
  ])('soft mask %s with zeros, both paths', (_, shape) => {
    const attention = layer();
    const input = contiguousInput(2, 4, 3, 4, 13);
    const raw = tf.tidy(() => tf.relu(tf.sub(tf.randomUniform(shape as number[], 0, 1, 'float32', 7), 0.25)).mul(1.3).minimum(1));
    const softMask = raw as tf.Tensor4D;
    expect(softMask.min().arraySync()).toBe(0);
    compareWithNaive(attention, { ...input, softMask });
    compareWithNaive(attention, { ...input, softMask, contiguous: false });
    softMask.dispose();
    disposeInput(input);
    attention.dispose();
  });

  test('a fully masked row outputs exactly zeros, never NaN', () => {
    const attention = layer();
    const input = contiguousInput(1, 2, 3, 2, 17);
    const maskValues = tf.buffer([1, 1, 3, 5], 'float32');
    for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) maskValues.set(i === 1 ? 0 : 1, 0, 0, i, j);
    const softMask = maskValues.toTensor() as tf.Tensor4D;
    for (const contiguous of [true, false]) {
      const result = attention.apply({ ...input, softMask, contiguous, returnProbabilities: true });
      const output = result.output.arraySync() as number[][][];
      expect(output[0]?.[1]).toEqual(new Array(modelDim).fill(0));
      expect((result.output.dataSync() as Float32Array).every(Number.isFinite)).toBe(true);
      const probabilities = result.probabilities!.arraySync() as number[][][][];
      expect(probabilities[0]?.[1]?.[1]).toEqual([0, 0, 0, 0, 0]);
      tf.dispose([result.output, result.probabilities!]);
    }
    compareWithNaive(attention, { ...input, softMask, contiguous: false });
    // Keys all in the future of every query (gather path): every row is masked.
    const future = { ...input, keyPositions: positions([[10, 11, 12, 13, 14]]), contiguous: false };
    const result = attention.apply(future);
    expect(Array.from(result.output.dataSync())).toEqual(new Array(3 * modelDim).fill(0));
    result.output.dispose();
    future.keyPositions.dispose();
    softMask.dispose();
    disposeInput(input);
    attention.dispose();
  });

  test('probabilities are causal by position and sum to one per query', () => {
    const attention = layer();
    const input = contiguousInput(2, 3, 4, 3, 19);
    const { output, probabilities } = attention.apply({ ...input, returnProbabilities: true });
    expect(probabilities?.shape).toEqual([2, numHeads, 4, 7]);
    const values = probabilities!.arraySync() as number[][][][];
    for (const row of values.flat(2)) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // Query i (key index 3 + i) sees keys 0 .. 3 + i only.
    expect(values[1]?.[0]?.[0]?.slice(4)).toEqual([0, 0, 0]);
    expect(values[1]?.[1]?.[2]?.slice(6)).toEqual([0]);
    tf.dispose([output, probabilities!]);
    disposeInput(input);
    attention.dispose();
  });
});

describe('Transformer-XL evaluation options', () => {
  test.each([0, -1])('clampLength %i means no clamp: equal to a clamp beyond every distance, and to the reference', (clampLength) => {
    const unclamped = layer(clampLength, 21);
    const wide = layer(1000, 21);
    const input = contiguousInput(1, 6, 3, 30, 23);
    compareWithNaive(unclamped, input);
    compareWithNaive(unclamped, { ...input, contiguous: false });
    const a = unclamped.apply(input);
    const b = wide.apply(input);
    expectClose(a.output, b.output, { atol: 1e-6, rtol: 1e-6, message: 'no clamp vs clamp 1000' });
    // ... and different from clamping every distance to 1.
    const tight = layer(1, 21);
    const c = tight.apply(input);
    expect(Math.max(...Array.from(tf.abs(tf.sub(a.output, c.output)).dataSync()))).toBeGreaterThan(1e-3);
    tf.dispose([a.output, b.output, c.output]);
    disposeInput(input);
    for (const attention of [unclamped, wide, tight]) attention.dispose();
  });

  test('window (same_length): each query sees exactly `window` keys, both paths equal the reference', () => {
    const attention = layer(100, 25);
    const input = contiguousInput(2, 4, 3, 4, 27);
    const windowed = { ...input, window: 4 };
    compareWithNaive(attention, windowed);
    compareWithNaive(attention, { ...windowed, contiguous: false });
    const { output, probabilities } = attention.apply({ ...windowed, returnProbabilities: true });
    const rows = (probabilities!.arraySync() as number[][][][]).flat(2);
    // Query i is key 4 + i; it sees keys 1 + i .. 4 + i.
    for (const row of rows) expect(row.filter((p) => p > 0).length).toBe(4);
    expect((probabilities!.arraySync() as number[][][][])[0]?.[1]?.[2]?.slice(0, 3)).toEqual([0, 0, 0]);
    tf.dispose([output, probabilities!]);
    expect(() => attention.apply({ ...input, window: 0 })).toThrow(/window must be an integer >= 1/);
    expectNoLeak(() => tf.dispose(attention.apply(windowed).output));
    disposeInput(input);
    attention.dispose();
  });
});

describe('gradients', () => {
  test.each([
    ['rel-shift', true, 3],
    ['gather, table of distances 0 .. 3', false, 3],
    ['gather, distinct distances', false, 100],
    ['gather, table of distances 0 .. 3 bounded by maxDistance', false, 100, 3],
  ])('finite differences agree for queries, keys and soft mask (%s)', (_, contiguous, clampLength, maxDistance?: number) => {
    const attention = createRelativeAttention({ modelDim: 4, numHeads: 2, clampLength, namePrefix: 'grad', seed: 1, initStandardDeviation: 0.5 });
    const queryPositions = positions([[3, 4]]);
    const keyPositions = positions([[1, 2, 3, 4]]);
    const queries = seededNormal([1, 2, 4], 1, 2, 'q');
    const keys = seededNormal([1, 4, 4], 1, 2, 'k');
    const softMask = tf.tensor4d([0.3, 0.9, 1, 0.6, 0.5, 0.8, 0.7, 1], [1, 1, 2, 4]);
    const weights = seededNormal([1, 2, 4], 1, 2, 'w');
    checkGradients(
      (q, k, m) => {
        const { output } = attention.apply({
          queries: q as tf.Tensor3D,
          keys: k as tf.Tensor3D,
          queryPositions,
          keyPositions,
          contiguous,
          softMask: m as tf.Tensor4D,
          ...(maxDistance === undefined ? {} : { maxDistance }),
        });
        return tf.sum(tf.mul(output, weights));
      },
      [queries, keys, softMask],
      { epsilon: 1e-2, atol: 2e-3, rtol: 2e-2 },
    );
    // Every variable receives a gradient.
    const { grads, value } = tf.variableGrads(() => {
      const { output } = attention.apply({ queries: queries as tf.Tensor3D, keys: keys as tf.Tensor3D, queryPositions, keyPositions, contiguous });
      return tf.sum(tf.mul(output, weights));
    }, attention.variables());
    expect(Object.keys(grads).sort()).toEqual(attention.variables().map((v) => v.name).sort());
    for (const gradient of Object.values(grads)) expect(gradient.abs().sum().arraySync()).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads), queries, keys, softMask, weights, queryPositions, keyPositions]);
    attention.dispose();
  });
});

describe('contentAttention', () => {
  test('equals softmax(Q K^T / sqrt(d)) V per head computed by hand', () => {
    const attention = layer();
    const queryInput = seededNormal([2, 3, modelDim], 1, 1, 'qi') as tf.Tensor3D;
    const keyValueInput = seededNormal([2, 5, modelDim], 1, 1, 'kv') as tf.Tensor3D;
    const actual = attention.contentAttention(queryInput, keyValueInput);
    expect(actual.shape).toEqual([2, 3, modelDim]);
    const q = tf.matMul(queryInput.reshape([-1, modelDim]), attention.query).arraySync() as number[][];
    const k = tf.matMul(keyValueInput.reshape([-1, modelDim]), attention.key).arraySync() as number[][];
    const v = tf.matMul(keyValueInput.reshape([-1, modelDim]), attention.value).arraySync() as number[][];
    const headDim = modelDim / numHeads;
    const expected: number[][][] = [];
    for (let b = 0; b < 2; b++) {
      const rows: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const out = new Array<number>(modelDim).fill(0);
        for (let h = 0; h < numHeads; h++) {
          const scores = [0, 1, 2, 3, 4].map((j) => {
            let s = 0;
            for (let c = h * headDim; c < (h + 1) * headDim; c++) s += q[b * 3 + i]![c]! * k[b * 5 + j]![c]!;
            return s / Math.sqrt(headDim);
          });
          const top = Math.max(...scores);
          const exps = scores.map((s) => Math.exp(s - top));
          const total = exps.reduce((a, x) => a + x, 0);
          exps.forEach((e, j) => {
            for (let c = h * headDim; c < (h + 1) * headDim; c++) out[c]! += (e / total) * v[b * 5 + j]![c]!;
          });
        }
        rows.push(out);
      }
      expected.push(rows);
    }
    expectClose(actual, expected, { atol: 1e-5, rtol: 1e-4 });
    tf.dispose([queryInput, keyValueInput, actual]);
    attention.dispose();
  });
});

describe('contentAttention.forQueries', () => {
  test('attend(x) equals contentAttention(h, x) for several x, with the same key-input gradient, and leaks nothing', () => {
    const attention = layer();
    const queryInput = seededNormal([2, 3, modelDim], 1, 1, 'fq-h') as tf.Tensor3D;
    const probe = seededNormal([2, 3, modelDim], 1, 1, 'fq-probe');
    const before = tf.memory().numTensors;
    const bound = attention.contentAttention.forQueries(queryInput);
    for (const [count, name] of [[5, 'fq-a'], [2, 'fq-b']] as const) {
      const keyValueInput = seededNormal([2, count, modelDim], 1, 1, name) as tf.Tensor3D;
      const direct = attention.contentAttention(queryInput, keyValueInput);
      const shared = bound.attend(keyValueInput);
      expectClose(shared, direct, { atol: 1e-6, rtol: 1e-5 });
      const slope = (f: (x: tf.Tensor3D) => tf.Tensor) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor3D), probe)))(keyValueInput);
      const directGradient = slope((x) => attention.contentAttention(queryInput, x));
      const sharedGradient = slope((x) => bound.attend(x));
      expectClose(sharedGradient, directGradient, { atol: 1e-6, rtol: 1e-5 });
      expect(Array.from(sharedGradient.dataSync()).some((v) => v !== 0)).toBe(true);
      tf.dispose([keyValueInput, direct, shared, directGradient, sharedGradient]);
    }
    // The plain call still trains every projection it uses (tfjs products record both operands' gradients).
    const kv = seededNormal([2, 4, modelDim], 1, 1, 'fq-kv') as tf.Tensor3D;
    const projections = [attention.query, attention.key, attention.value];
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(attention.contentAttention(queryInput, kv), probe)) as tf.Scalar, projections);
    for (const projection of projections) expect(Array.from((grads[projection.name] as tf.Tensor).dataSync()).some((v) => v !== 0)).toBe(true);
    tf.dispose([value, kv, ...Object.values(grads)]);
    bound.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const late = seededNormal([2, 4, modelDim], 1, 1, 'fq-late') as tf.Tensor3D;
    expect(() => bound.attend(late)).toThrow(/after dispose\(\)/);
    const flat = late.reshape([8, modelDim]) as unknown as tf.Tensor3D;
    expect(() => attention.contentAttention.forQueries(flat)).toThrow(/expected queryInput/);
    flat.dispose();
    tf.dispose([late, queryInput, probe]);
    attention.dispose();
  });
});

/**
 * Content attention with tfjs ops only (heads split by transposes, tfjs matMul and softmax), for gradients that do not
 * go through the head kernels: `softmax((h Wq)(x Wk)^T / sqrt(d)) (x Wv)` per head, merged.
 */
function plainContent(attention: RelativeAttention, h: tf.Tensor3D, x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const { modelDim: width, numHeads: heads, headDim } = attention;
    const split = (t: tf.Tensor3D, weight: tf.Tensor) => {
      const [batch, length] = t.shape;
      const projected = tf.matMul(tf.reshape(t, [batch * length, width]), weight);
      return tf.transpose(tf.reshape(projected, [batch, length, heads, headDim]), [0, 2, 1, 3]);
    };
    const probabilities = tf.softmax(tf.div(tf.matMul(split(h, attention.query), split(x, attention.key), false, true), Math.sqrt(headDim)));
    return tf.reshape(tf.transpose(tf.matMul(probabilities, split(x, attention.value)), [0, 2, 1, 3]), h.shape) as tf.Tensor3D;
  });
}

/** Central differences of a scalar function of `x` (host loop over every element; tiny inputs only). */
function finiteDifferences(f: (x: tf.Tensor3D) => tf.Scalar, x: tf.Tensor3D, epsilon: number): Float32Array {
  const base = Float32Array.from(x.dataSync());
  const gradient = new Float32Array(base.length);
  const at = (values: Float32Array): number => tf.tidy(() => f(tf.tensor3d(values, x.shape)).dataSync()[0] as number);
  for (let index = 0; index < base.length; index++) {
    const shifted = base.slice();
    shifted[index] = (base[index] as number) + epsilon;
    const up = at(shifted);
    shifted[index] = (base[index] as number) - epsilon;
    gradient[index] = (up - at(shifted)) / (2 * epsilon);
  }
  return gradient;
}

describe('apply returnProjections and contentAttention.forProjectedQueries', () => {
  test('apply returns Q(queries), K(keys), V(keys) and the same output; attendProjected on them equals attend; nothing leaks', () => {
    for (const [name, makeInput] of [['contiguous', () => contiguousInput(2, 4, 3, 10, 31)], ['gather', () => sparseInput(32)]] as const) {
      const attention = layer();
      const input = makeInput();
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const plain = attention.apply(input);
        const withProjections = attention.apply({ ...input, returnProjections: true });
        const unfused = attention.apply({ ...input, returnProjections: true, returnProbabilities: true });
        expect(plain.projections, name).toBeUndefined();
        expectClose(withProjections.output, plain.output, { atol: 0, rtol: 0 });
        expectClose(unfused.output, plain.output, { atol: 1e-6, rtol: 1e-5 });
        const [batch, queries] = input.queries.shape;
        const keyCount = input.keys.shape[1];
        const flat = (x: tf.Tensor3D) => tf.reshape(x, [-1, modelDim]) as tf.Tensor2D;
        const naive = (x: tf.Tensor3D, weight: tf.Variable, rows: number) => tf.reshape(tf.matMul(flat(x), weight as tf.Tensor2D), [batch, rows, modelDim]);
        for (const output of [withProjections, unfused]) {
          const projections = output.projections as NonNullable<typeof output.projections>;
          expectClose(projections.queries, naive(input.queries, attention.query, queries), { atol: 1e-6, rtol: 1e-5 });
          expectClose(projections.keys, naive(input.keys, attention.key, keyCount), { atol: 1e-6, rtol: 1e-5 });
          expectClose(projections.values, naive(input.keys, attention.value, keyCount), { atol: 1e-6, rtol: 1e-5 });
        }
        // The target of the attention-reconstruction loss from the forward's projections: rows 1 .. 3 of the keys.
        const projections = withProjections.projections as NonNullable<typeof withProjections.projections>;
        const fromForward = attention.contentAttention.forProjectedQueries(projections.queries);
        const recomputed = attention.contentAttention.forQueries(input.queries);
        const rows = tf.slice(input.keys, [0, 1, 0], [-1, 3, -1]) as tf.Tensor3D;
        const target = fromForward.attendProjected(
          tf.slice(projections.keys, [0, 1, 0], [-1, 3, -1]) as tf.Tensor3D,
          tf.slice(projections.values, [0, 1, 0], [-1, 3, -1]) as tf.Tensor3D,
        );
        expectClose(target, recomputed.attend(rows), { atol: 1e-6, rtol: 1e-5 });
        expectClose(target, attention.contentAttention(input.queries, rows), { atol: 1e-6, rtol: 1e-5 });
        // The bound attention of projected queries is the same for key inputs too.
        expectClose(fromForward.attend(rows), recomputed.attend(rows), { atol: 1e-6, rtol: 1e-5 });
        expect(() => fromForward.attendProjected(projections.keys, tf.slice(projections.values, [0, 0, 0], [-1, 2, -1]) as tf.Tensor3D)).toThrow(
          /attendProjected needs keys and values of the same slots/,
        );
        fromForward.dispose();
        recomputed.dispose();
      });
      expect(tf.memory().numTensors, name).toBe(before);
      tf.dispose(Object.values(input).filter((value): value is tf.Tensor => value instanceof tf.Tensor));
      attention.dispose();
    }
  });
});

describe('contentAttention.forQueries attendWithGradient', () => {
  test('odd shapes: the output equals attend(x) and the key-input gradient equals tf.grad of a plain tfjs attention, no leak', () => {
    // batch 3, queries 5, keys 7, heads 2 of width 3.
    const attention = createRelativeAttention({ modelDim: 6, numHeads: 2, clampLength: 100, namePrefix: 'odd.attention', seed: 8, initStandardDeviation: 0.5 });
    const h = seededNormal([3, 5, 6], 1, 2, 'awg-h') as tf.Tensor3D;
    const x = seededNormal([3, 7, 6], 1, 2, 'awg-x') as tf.Tensor3D;
    const probe = seededNormal([3, 5, 6], 1, 2, 'awg-probe') as tf.Tensor3D;
    const expectedOutput = plainContent(attention, h, x);
    // Upstream gradient depending on the output, as the reconstruction loss's does: G = probe * O.
    const expectedGradient = tf.grad((t: tf.Tensor) => tf.mul(0.5, tf.sum(tf.mul(probe, tf.square(plainContent(attention, h, t as tf.Tensor3D))))))(x);
    const before = tf.memory().numTensors;
    const bound = attention.contentAttention.forQueries(h);
    let seen: number[] = [];
    const { output, keyValueGradient } = bound.attendWithGradient(x, (o) => {
      seen = Array.from(o.dataSync());
      return tf.mul(probe, o) as tf.Tensor3D;
    });
    expect(output.shape).toEqual([3, 5, 6]);
    expect(keyValueGradient.shape).toEqual([3, 7, 6]);
    expectClose(output, expectedOutput, { atol: 1e-5, rtol: 1e-4 });
    const seenOutput = tf.tensor3d(seen, [3, 5, 6]);
    expectClose(seenOutput, expectedOutput, { atol: 1e-5, rtol: 1e-4 });
    const attended = bound.attend(x);
    expectClose(output, attended, { atol: 1e-6, rtol: 1e-6 });
    expectClose(keyValueGradient, expectedGradient, { atol: 1e-5, rtol: 1e-4 });
    expect(Math.max(...Array.from(keyValueGradient.dataSync(), Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([output, keyValueGradient, attended, seenOutput]);
    bound.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => bound.attendWithGradient(x, (o) => o)).toThrow(/attendWithGradient\(\) was called after dispose\(\)/);
    tf.dispose([h, x, probe, expectedOutput, expectedGradient]);
    attention.dispose();
  });

  test('matches finite differences on a tiny case, and refuses an upstream gradient of the wrong shape without leaking', () => {
    const attention = createRelativeAttention({ modelDim: 4, numHeads: 2, clampLength: 100, namePrefix: 'tiny.attention', seed: 5, initStandardDeviation: 0.6 });
    const h = seededNormal([1, 2, 4], 1, 3, 'awg-fd-h') as tf.Tensor3D;
    const x = seededNormal([1, 3, 4], 1, 3, 'awg-fd-x') as tf.Tensor3D;
    const probe = seededNormal([1, 2, 4], 1, 3, 'awg-fd-probe') as tf.Tensor3D;
    const bound = attention.contentAttention.forQueries(h);
    const { output, keyValueGradient } = bound.attendWithGradient(x, () => tf.clone(probe));
    const numeric = finiteDifferences((t) => tf.sum(tf.mul(bound.attend(t), probe)) as tf.Scalar, x, 1e-2);
    const numericGradient = tf.tensor3d(numeric, x.shape);
    expectClose(keyValueGradient, numericGradient, { atol: 1e-3, rtol: 1e-2 });
    expect(Math.max(...Array.from(numeric, Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([output, keyValueGradient, numericGradient]);
    const before = tf.memory().numTensors;
    expect(() => bound.attendWithGradient(x, () => tf.zeros([1, 2, 3]) as tf.Tensor3D)).toThrow(/outputGradient must return the gradient of the output/);
    expect(tf.memory().numTensors).toBe(before);
    bound.dispose();
    tf.dispose([h, x, probe]);
    attention.dispose();
  });
});

describe('lifecycle and options', () => {
  test('no tensor leak from apply (both paths, probabilities, soft mask) and contentAttention', () => {
    const attention = layer();
    const input = contiguousInput(2, 3, 2, 3, 23);
    const softMask = tf.ones([2, 1, 2, 5]) as tf.Tensor4D;
    expectNoLeak(() => {
      for (const contiguous of [true, false]) {
        const result = attention.apply({ ...input, contiguous, softMask, returnProbabilities: true });
        tf.dispose([result.output, result.probabilities!]);
      }
      attention.contentAttention(input.queries, input.keys).dispose();
    });
    softMask.dispose();
    disposeInput(input);
    const before = tf.memory().numTensors;
    attention.dispose();
    expect(tf.memory().numTensors).toBe(before - 7);
  });

  test('shared position biases are used and not owned', () => {
    const biases = createPositionBiases({ numHeads, headDim: modelDim / numHeads, namePrefix: 'shared', seed: 2 });
    const a = createRelativeAttention({ modelDim, numHeads, clampLength: 10, namePrefix: 'layers.0.attention', positionBiases: biases });
    const b = createRelativeAttention({ modelDim, numHeads, clampLength: 10, namePrefix: 'layers.1.attention', positionBiases: biases });
    expect(a.positionBiases.u).toBe(b.positionBiases.u);
    expect(a.variables()).toHaveLength(5);
    expect(a.variables().map((v) => v.name.split('/')[1])).toEqual([
      'layers.0.attention.query.weight',
      'layers.0.attention.key.weight',
      'layers.0.attention.value.weight',
      'layers.0.attention.output.weight',
      'layers.0.attention.position.weight',
    ]);
    a.dispose();
    expect(biases.u.isDisposed).toBe(false);
    b.dispose();
    biases.u.dispose();
    biases.v.dispose();
  });

  test('initialisation is seeded: same seed, same weights; other seed, other weights', () => {
    const a = layer(10, 5);
    const b = layer(10, 5);
    const c = layer(10, 6);
    expectClose(a.query, b.query, { atol: 0, rtol: 0 });
    expect(tf.tidy(() => tf.sub(a.query, c.query).abs().max().arraySync())).toBeGreaterThan(0);
    [a, b, c].forEach((x) => x.dispose());
  });

  test('dropout on probabilities only when training, seeded per call', () => {
    const make = (): RelativeAttention =>
      createRelativeAttention({ modelDim, numHeads, clampLength: 10, namePrefix: 'drop', seed: 9, dropout: 0.5, initStandardDeviation: 0.4 });
    const a = make();
    const b = make();
    const input = contiguousInput(1, 2, 3, 2, 29);
    const evalA = a.apply(input);
    const evalB = a.apply(input);
    expectClose(evalA.output, evalB.output, { atol: 0, rtol: 0 });
    const trainA = a.apply({ ...input, training: true });
    const trainB = b.apply({ ...input, training: true });
    expectClose(trainA.output, trainB.output, { atol: 0, rtol: 0, message: 'same seed, same call index' });
    expect(tf.tidy(() => tf.sub(trainA.output, evalA.output).abs().max().arraySync())).toBeGreaterThan(1e-4);
    tf.dispose([evalA.output, evalB.output, trainA.output, trainB.output]);
    disposeInput(input);
    a.dispose();
    b.dispose();
  });

  test('getRandomState / setRandomState replay the dropout masks (JSON round trip)', () => {
    const attention = createRelativeAttention({ modelDim, numHeads, clampLength: 10, namePrefix: 'replay', seed: 4, dropout: 0.5, initStandardDeviation: 0.4 });
    const input = contiguousInput(1, 2, 3, 2, 37);
    const warm = attention.apply({ ...input, training: true });
    const saved = JSON.parse(JSON.stringify(attention.getRandomState())) as AttentionRandomState;
    expect(saved).toEqual({ dropoutCalls: 1 });
    const first = attention.apply({ ...input, training: true });
    attention.setRandomState(saved);
    const replayed = attention.apply({ ...input, training: true });
    expectClose(replayed.output, first.output, { atol: 0, rtol: 0 });
    expect(attention.getRandomState()).toEqual({ dropoutCalls: 2 });
    const next = attention.apply({ ...input, training: true });
    expect(tf.tidy(() => tf.sub(next.output, first.output).abs().max().arraySync())).toBeGreaterThan(1e-4);
    expect(() => attention.setRandomState({ dropoutCalls: -1 })).toThrow(AttentionInputError);
    expect(() => attention.setRandomState({ dropoutCalls: 1.5 })).toThrow(/dropoutCalls/);
    expect(() => attention.setRandomState(null as unknown as AttentionRandomState)).toThrow(/dropoutCalls/);
    tf.dispose([warm.output, first.output, replayed.output, next.output]);
    disposeInput(input);
    attention.dispose();
  });

  test('clear errors for bad options and inputs', () => {
    expect(() => createRelativeAttention({ modelDim: 6, numHeads: 4, clampLength: 1, namePrefix: 'x' })).toThrow(AttentionConfigError);
    expect(() => createRelativeAttention({ modelDim: 8, numHeads: 2, clampLength: 1.5, namePrefix: 'x' })).toThrow(/clampLength/);
    expect(() => createRelativeAttention({ modelDim: 8, numHeads: 2, clampLength: 1, namePrefix: 'x', dropout: 1 })).toThrow(/dropout/);
    expect(() => createRelativeAttention({ modelDim: 8, numHeads: 2, clampLength: 1, namePrefix: '' })).toThrow(/namePrefix/);
    const attention = layer();
    const input = contiguousInput(1, 0, 3, 0, 31);
    const shortKeys = tf.zeros([1, 2, modelDim]) as tf.Tensor3D;
    const shortPositions = positions([[0, 1]]);
    expect(() => attention.apply({ ...input, keys: shortKeys, keyPositions: shortPositions })).toThrow(/at least as many keys/);
    const floatPositions = tf.zeros([1, 3]) as tf.Tensor2D;
    expect(() => attention.apply({ ...input, queryPositions: floatPositions })).toThrow(AttentionInputError);
    const badMask = tf.ones([1, 3, 3, 3]) as tf.Tensor4D;
    expect(() => attention.apply({ ...input, softMask: badMask })).toThrow(/softMask/);
    tf.dispose([shortKeys, shortPositions, floatPositions, badMask]);
    disposeInput(input);
    attention.dispose();
  });
});

/**
 * Runs `fn` and counts its synchronous tensor reads (`dataSync`, `arraySync` and friends end in the engine's
 * `readSync`; wasm kernels that read their own heap call the backend directly and are not host reads).
 */
function countHostReads(fn: () => void): number {
  const spy = vi.spyOn(tf.engine(), 'readSync');
  try {
    fn();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/**
 * Odd shapes for the bounded table: 3 rows, 5 queries at 30 .. 34, 6 memories then the 5 current keys (K = 11, so
 * the table may have 2K = 22 rows). Row 0: sparse memories, the oldest at 13 (largest distance 34 - 13 = 21);
 * row 1: unsorted, with a key at 31 in the future of the first query; row 2: contiguous memories.
 */
function boundedSparseInput(seed: number): AttentionInput {
  const keys = seededNormal([3, 11, modelDim], 1, seed, 'keys') as tf.Tensor3D;
  const current = [30, 31, 32, 33, 34];
  return {
    queries: tf.slice(keys, [0, 6, 0], [-1, 5, -1]) as tf.Tensor3D,
    keys,
    queryPositions: positions([current, current, current]),
    keyPositions: positions([
      [13, 17, 22, 25, 28, 29, ...current],
      [20, 14, 26, 27, 31, 29, ...current],
      [24, 25, 26, 27, 28, 29, ...current],
    ]),
    contiguous: false,
  };
}

/** Gradients of `sum(output * weights)` for queries, keys, soft mask and every variable of the layer, as arrays. */
function attentionGradients(attention: RelativeAttention, input: AttentionInput, softMask: tf.Tensor4D): number[][] {
  return tf.tidy(() => {
    const weights = seededNormal(input.queries.shape, 1, 9, 'weights');
    const loss = (q: tf.Tensor, k: tf.Tensor, m: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(attention.apply({ ...input, queries: q as tf.Tensor3D, keys: k as tf.Tensor3D, softMask: m as tf.Tensor4D, training: true }).output, weights));
    const inputGradients = tf.grads(loss)([input.queries, input.keys, softMask]);
    const { value, grads } = tf.variableGrads(() => loss(input.queries, input.keys, softMask), attention.variables());
    value.dispose();
    return [...inputGradients, ...attention.variables().map((variable) => grads[variable.name] as tf.Tensor)].map((gradient) => Array.from(gradient.dataSync()));
  });
}

describe('gather path without a host read (table of distances 0 .. bound)', () => {
  test.each([
    ['the exact largest distance (22 rows <= 2K)', 21, 0],
    ['a looser bound (31 rows > 2K: the distinct distances)', 30, 1],
    ['a bound above the clamp (the clamp, 101 rows > 2K)', 5000, 1],
  ])('maxDistance = %s: equals the naive reference and the unbounded path', (_, maxDistance, reads) => {
    const attention = layer(100, 33);
    const input = boundedSparseInput(31);
    compareWithNaive(attention, { ...input, maxDistance });
    // Without the bound, clamp 100 is above 2 rows per key: the distinct distances are found with one read.
    let distinct: tf.Tensor3D | undefined;
    expect(countHostReads(() => (distinct = attention.apply(input).output))).toBe(1);
    let bounded: tf.Tensor3D | undefined;
    expect(countHostReads(() => (bounded = attention.apply({ ...input, maxDistance }).output))).toBe(reads);
    expectClose(bounded!, distinct!, { atol: 1e-6, rtol: 1e-6, message: 'bounded vs distinct distances' });
    expectNoLeak(() => tf.dispose(attention.apply({ ...input, maxDistance }).output));
    tf.dispose([bounded!, distinct!]);
    disposeInput(input);
    attention.dispose();
  });

  test('the table bounded by maxDistance gives the same gradients as the distinct distances (queries, keys, soft mask, weights)', () => {
    const attention = layer(100, 41);
    const input = boundedSparseInput(43);
    const softMask = tf.tidy(() => tf.minimum(tf.add(tf.randomUniform([3, 1, 5, 11], 0, 1, 'float32', 5), 0.2), 1)) as tf.Tensor4D;
    const unbounded = attentionGradients(attention, input, softMask);
    const bounded = attentionGradients(attention, { ...input, maxDistance: 21 }, softMask);
    bounded.forEach((gradient, index) => expectClose(gradient, unbounded[index] as number[], { atol: 1e-6, rtol: 1e-5, message: `gradient ${index}` }));
    expect(countHostReads(() => tf.dispose(attention.apply({ ...input, maxDistance: 21 }).output))).toBe(0);
    expectNoLeak(() => attentionGradients(attention, { ...input, maxDistance: 21 }, softMask));
    softMask.dispose();
    disposeInput(input);
    attention.dispose();
  });

  test('contiguous memory on odd shapes: rel-shift, the bounded gather and the unbounded gather give the same outputs and gradients', () => {
    const attention = layer(100, 45);
    // 3 rows, 7 memories, 5 queries: K = 12, the largest distance K - 1 = 11.
    const input = contiguousInput(3, 7, 5, 19, 47);
    const softMask = tf.tidy(() => tf.minimum(tf.add(tf.randomUniform([3, 1, 5, 12], 0, 1, 'float32', 6), 0.2), 1)) as tf.Tensor4D;
    const relShift = attentionGradients(attention, input, softMask);
    for (const maxDistance of [11, undefined]) {
      const gather = { ...input, contiguous: false, ...(maxDistance === undefined ? {} : { maxDistance }) };
      compareWithNaive(attention, { ...gather, softMask });
      attentionGradients(attention, gather, softMask).forEach((gradient, index) =>
        expectClose(gradient, relShift[index] as number[], { atol: 1e-5, rtol: 1e-4, message: `maxDistance ${maxDistance}, gradient ${index}` }),
      );
    }
    expect(countHostReads(() => tf.dispose(attention.apply({ ...input, contiguous: false, maxDistance: 11 }).output))).toBe(0);
    softMask.dispose();
    disposeInput(input);
    attention.dispose();
  });

  test('a maxDistance below a visible distance is not detected (checking needs the read it saves): it acts as a clamp at that distance', () => {
    const input = boundedSparseInput(31);
    const bounded = layer(100, 49);
    const clamped = layer(9, 49);
    const tooSmall = bounded.apply({ ...input, maxDistance: 9 }).output;
    const reference = naiveRelativeAttention(clamped, input);
    expectClose(tooSmall, reference.output, { atol: 1e-5, rtol: 1e-4, message: 'maxDistance 9 vs clampLength 9' });
    // ... and so differs from the true result: the model never passes a bound below the real distances.
    const truth = bounded.apply(input).output;
    expect(Math.max(...Array.from(tf.abs(tf.sub(truth, tooSmall)).dataSync()))).toBeGreaterThan(1e-3);
    tf.dispose([tooSmall, truth, reference.output, reference.probabilities]);
    disposeInput(input);
    bounded.dispose();
    clamped.dispose();
  });

  test('keys beyond maxDistance hidden by a zero soft mask do not change the result', () => {
    const attention = layer(100, 35);
    const input = boundedSparseInput(31);
    // Hide row 0's keys at 13 and 17 and row 1's key at 14 from every query: the visible keys are within 14 of every query.
    const maskRows = [
      [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ];
    const softMask = tf.tensor4d(maskRows.flatMap((row) => [row, row, row, row, row]).flat(), [3, 1, 5, 11]);
    compareWithNaive(attention, { ...input, softMask, maxDistance: 14 });
    // The fused core (no probabilities returned) too, from the 15-row table without a read.
    let fused: tf.Tensor3D | undefined;
    expect(countHostReads(() => (fused = attention.apply({ ...input, softMask, maxDistance: 14 }).output))).toBe(0);
    const naive = naiveRelativeAttention(attention, { ...input, softMask });
    expectClose(fused!, naive.output, { atol: 1e-5, rtol: 1e-4, message: 'fused output' });
    tf.dispose([fused!, naive.output, naive.probabilities]);
    softMask.dispose();
    disposeInput(input);
    attention.dispose();
  });

  test('a small clamp (at most 2 rows per key) or a window bounds the table without maxDistance', () => {
    const input = sparseInput(31);
    for (const [clampLength, window] of [[4, undefined], [100, 8]] as const) {
      const attention = layer(clampLength, 37);
      const windowed = { ...input, ...(window === undefined ? {} : { window }) };
      compareWithNaive(attention, windowed);
      expect(countHostReads(() => tf.dispose(attention.apply(windowed).output))).toBe(0);
      attention.dispose();
    }
    disposeInput(input);
  });

  test('rejects a maxDistance that is not an integer >= 0', () => {
    const attention = layer();
    const input = sparseInput(31);
    for (const maxDistance of [-1, 2.5, Number.NaN]) {
      expect(() => attention.apply({ ...input, maxDistance })).toThrow(/maxDistance must be an integer >= 0/);
    }
    disposeInput(input);
    attention.dispose();
  });
});

describe('distinctDistanceSlots (the gather path remap)', () => {
  test('ascending distinct distances and each entry rewritten to its rank, for small and huge distances', () => {
    const random = createRandom(3);
    for (const spread of [40, 2 ** 30]) {
      const shape: [number, number, number] = [2, 3, 5];
      const values = Array.from({ length: 30 }, () => Math.floor(random() * spread));
      const index = tf.tensor3d(values, shape, 'int32');
      expectNoLeak(() => {
        const { distinct, slotIndex } = distinctDistanceSlots(index);
        const expected = [...new Set(values)].sort((a, b) => a - b);
        expect(distinct).toEqual(expected);
        expect(slotIndex.shape).toEqual(shape);
        expect(Array.from(slotIndex.dataSync())).toEqual(values.map((value) => expected.indexOf(value)));
        slotIndex.dispose();
      });
      index.dispose();
    }
  });
});
