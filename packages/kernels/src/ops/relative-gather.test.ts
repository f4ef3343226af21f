// gatherRelativeScores and relativeDistanceIndex against loops, and agreement with relShift (SPEC 2.2: to 1e-5).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test, vi } from 'vitest';
import { registerMissingKernels } from '../kernels/index.js';
import { RELATIVE_GATHER } from '../kernels/relative-gather.js';
import { POSITION_DISTANCES, RELATIVE_DISTANCE_INDEX } from '../kernels/position-kernels.js';
import { InvalidArgumentError } from '../errors.js';
import { offset, randomTensor, seededRandom, withFastKernels } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { relShift } from './rel-shift.js';
import { gatherRelativeScores, positionDistances, relativeDistanceIndex } from './relative-gather.js';

function randomIndex(shape: [number, number, number], limit: number, seed: number): tf.Tensor3D {
  const random = seededRandom(seed);
  const values = Array.from({ length: shape[0] * shape[1] * shape[2] }, () => Math.floor(random() * limit));
  return tf.tensor3d(values, shape, 'int32');
}

function referenceGather(scores: tf.Tensor4D, index: tf.Tensor3D): number[] {
  const [scoreBatch, heads, queries, distances] = scores.shape;
  const [batch, , keys] = index.shape;
  const s = scores.dataSync();
  const d = index.dataSync();
  const out: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < queries; i++)
        for (let j = 0; j < keys; j++) {
          const source = scoreBatch === 1 ? 0 : b;
          const bucket = d[offset([batch, queries, keys], b, i, j)] as number;
          out.push(s[offset([scoreBatch, heads, queries, distances], source, h, i, bucket)] as number);
        }
  return out;
}

test('matches a loop reference, with and without batch broadcasting', () => {
  for (const scoreBatch of [2, 1]) {
    const scores = randomTensor([scoreBatch, 3, 4, 6], 10 + scoreBatch) as tf.Tensor4D;
    const index = randomIndex([2, 4, 5], 6, 20 + scoreBatch);
    const output = gatherRelativeScores(scores, index);
    expect(output.shape).toEqual([2, 3, 4, 5]);
    expectClose(output.reshape([-1]), referenceGather(scores, index), { atol: 0, rtol: 0 });
    tf.dispose([scores, index, output]);
  }
});

test('agrees with relShift for contiguous keys (the two paths of SPEC 2.2)', () => {
  const [batch, heads, queries, keys] = [2, 2, 3, 7];
  // byDistance[..., d] = term of distance d; relShift wants distances K-1..0 along the key axis.
  const byDistance = randomTensor([batch, heads, queries, keys], 30) as tf.Tensor4D;
  const shifted = relShift(tf.reverse(byDistance, 3) as tf.Tensor4D);
  const memory = keys - queries;
  const queryPositions = tf.tensor2d([[10, 11, 12], [50, 51, 52]], [2, 3], 'int32');
  const keyPositions = tf.tensor2d(
    [Array.from({ length: keys }, (_, j) => 10 - memory + j), Array.from({ length: keys }, (_, j) => 50 - memory + j)],
    [2, keys],
    'int32',
  );
  const { index, causal } = relativeDistanceIndex(queryPositions, keyPositions, keys - 1);
  const gathered = gatherRelativeScores(byDistance, index);
  const visible = tf.expandDims(causal, 1);
  expectClose(tf.mul(gathered, visible), tf.mul(shifted, visible), { atol: 1e-5 });
  tf.dispose([byDistance, shifted, queryPositions, keyPositions, index, causal, gathered, visible]);
});

test('gradient reaches positionScores (duplicates summed) and matches finite differences', () => {
  const scores = randomTensor([1, 2, 3, 4], 40);
  const index = randomIndex([2, 3, 5], 4, 41); // batch 2 broadcast from 1: every bucket used several times
  const weights = randomTensor([2, 2, 3, 5], 42);
  checkGradients((s) => tf.sum(tf.mul(gatherRelativeScores(s as tf.Tensor4D, index), weights)), [scores]);
  // The gradient of a plain sum counts how often each bucket is read.
  const counts = tf.grad((s: tf.Tensor) => tf.sum(gatherRelativeScores(s as tf.Tensor4D, index)))(scores);
  const expected = new Array<number>(2 * 3 * 4).fill(0);
  const d = index.dataSync();
  for (let b = 0; b < 2; b++)
    for (let h = 0; h < 2; h++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 5; j++) expected[offset([2, 3, 4], h, i, d[offset([2, 3, 5], b, i, j)] as number)]! += 1;
  expectClose(counts.reshape([-1]), expected);
  tf.dispose([scores, index, weights, counts]);
});

test('rejects out-of-range indices, float indices and mismatched shapes', () => {
  const scores = tf.zeros([1, 1, 2, 3]) as tf.Tensor4D;
  const tooLarge = tf.tensor3d([[[0, 3], [1, 2]]], [1, 2, 2], 'int32');
  const negative = tf.tensor3d([[[0, -1], [1, 2]]], [1, 2, 2], 'int32');
  const floats = tf.tensor3d([[[0, 1], [1, 2]]], [1, 2, 2], 'float32');
  const wrongQueries = tf.tensor3d([[[0, 1]]], [1, 1, 2], 'int32');
  expect(() => gatherRelativeScores(scores, tooLarge)).toThrow(/values in \[0, 3\).*got 3 at flat position 1/);
  expect(() => gatherRelativeScores(scores, negative)).toThrow(/got -1 at flat position 1/);
  expect(() => gatherRelativeScores(scores, floats)).toThrow(/int32/);
  expect(() => gatherRelativeScores(scores, wrongQueries)).toThrow(/distanceIndex/);
  tf.dispose([scores, tooLarge, negative, floats, wrongQueries]);
});

test('validation reads back only the index minimum and maximum (two values); validateIndex: false reads nothing', () => {
  const scores = randomTensor([2, 2, 3, 5], 41) as tf.Tensor4D;
  const index = randomIndex([2, 3, 4], 5, 43);
  const spy = vi.spyOn(tf.engine(), 'readSync');
  try {
    tf.dispose(gatherRelativeScores(scores, index));
    expect(spy.mock.calls.length).toBe(1);
    expect(spy.mock.results[0]?.value).toHaveLength(2);
    spy.mockClear();
    tf.dispose(gatherRelativeScores(scores, index, { validateIndex: false }));
    expect(spy.mock.calls.length).toBe(0);
  } finally {
    spy.mockRestore();
  }
  tf.dispose([scores, index]);
});

test('relativeDistanceIndex: clamped distances and causal mask match loops; broadcasts; exact above 2^24', () => {
  const base = 2 ** 25; // float32 cannot represent every integer here
  const query = [[base + 5, base + 6], [3, 4]];
  const key = [[base + 1, base + 4, base + 6, base + 9], [0, 1, 4, 5]];
  const queryPositions = tf.tensor2d(query, [2, 2], 'int32');
  const keyPositions = tf.tensor2d(key, [2, 4], 'int32');
  const { index, causal } = relativeDistanceIndex(queryPositions, keyPositions, 3);
  const expectedIndex = query.map((row, b) => row.map((tq) => key[b]!.map((tk) => Math.min(Math.max(tq - tk, 0), 3))));
  const expectedCausal = query.map((row, b) => row.map((tq) => key[b]!.map((tk) => (tk <= tq ? 1 : 0))));
  expect(index.dtype).toBe('int32');
  expect(causal.dtype).toBe('float32');
  expect(index.arraySync()).toEqual(expectedIndex);
  expect(causal.arraySync()).toEqual(expectedCausal);
  const shared = tf.tensor2d([[0, 1, 2]], [1, 3], 'int32');
  const broadcast = relativeDistanceIndex(queryPositions, shared, 100);
  expect(broadcast.index.shape).toEqual([2, 2, 3]);
  expect(broadcast.index.arraySync()[1]).toEqual([[3, 2, 1], [4, 3, 2]]);
  const windowed = relativeDistanceIndex(queryPositions, keyPositions, 3, { window: 2 });
  expect(windowed.index.arraySync()).toEqual(expectedIndex);
  expect(windowed.causal.arraySync()).toEqual(query.map((row, b) => row.map((tq) => key[b]!.map((tk) => (tk <= tq && tq - tk < 2 ? 1 : 0)))));
  tf.dispose([windowed.index, windowed.causal]);
  expect(() => relativeDistanceIndex(queryPositions, keyPositions, 3, { window: 0 })).toThrow(/window/);
  expect(() => relativeDistanceIndex(queryPositions, keyPositions, -1)).toThrow(/clampLength/);
  const floatPositions = tf.tensor2d([[1, 2]]);
  expect(() => relativeDistanceIndex(floatPositions, keyPositions, 3)).toThrow(/int32/);
  tf.dispose([queryPositions, keyPositions, index, causal, shared, broadcast.index, broadcast.causal, floatPositions]);
});

test('positionDistances: exact distances per row at any absolute position (rows 2^30 apart), both broadcasts, clear errors, no leak', () => {
  const far = 2 ** 30 + 3; // float32 cannot hold every integer here, nor the gap between the rows
  const query = [[far + 5, far + 6, far + 9], [3, 4, 5]];
  const key = [[far - 7, far + 1, far + 6, far + 11], [0, 1, 4, 9]];
  const queryPositions = tf.tensor2d(query, [2, 3], 'int32');
  const keyPositions = tf.tensor2d(key, [2, 4], 'int32');
  const oneQueryRow = tf.tensor2d([[far + 5, far + 6, far + 9]], [1, 3], 'int32');
  const nearKeys = [[far - 7, far + 1, far + 6, far + 11], [far, far + 2, far + 3, far + 8]];
  const keysNearOneRow = tf.tensor2d(nearKeys, [2, 4], 'int32');
  const twoQueryRows = tf.tensor2d([[3, 4], [5, 6]], [2, 2], 'int32');
  const sharedKeys = tf.tensor2d([[0, 2, 7]], [1, 3], 'int32');
  const threeRows = tf.zeros([3, 2], 'int32') as tf.Tensor2D;
  const floats = tf.zeros([2, 2]) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const distances = positionDistances(queryPositions, keyPositions);
  expect(distances.dtype).toBe('float32');
  expect(distances.arraySync()).toEqual(query.map((row, b) => row.map((tq) => key[b]!.map((tk) => tq - tk))));
  const keysPerRow = positionDistances(oneQueryRow, keysNearOneRow);
  expect(keysPerRow.arraySync()).toEqual(nearKeys.map((row) => [5, 6, 9].map((dq) => row.map((tk) => far + dq - tk))));
  const queriesPerRow = positionDistances(twoQueryRows, sharedKeys);
  expect(queriesPerRow.arraySync()).toEqual([[[3, 1, -4], [4, 2, -3]], [[5, 3, -2], [6, 4, -1]]]);
  expect(() => positionDistances(threeRows, keyPositions)).toThrow(/batch size equal to queryPositions' \(3\) or 1/);
  expect(() => positionDistances(floats, keyPositions)).toThrow(/int32/);
  tf.dispose([distances, keysPerRow, queriesPerRow]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([queryPositions, keyPositions, oneQueryRow, keysNearOneRow, twoQueryRows, sharedKeys, threeRows, floats]);
});

test('does not leak (forward, backward, index)', () => {
  const scores = randomTensor([1, 2, 2, 3], 50) as tf.Tensor4D;
  const index = randomIndex([1, 2, 4], 3, 51);
  const positions = tf.tensor2d([[4, 5]], [1, 2], 'int32');
  expectNoLeak(() => gatherRelativeScores(scores, index).dispose());
  expectNoLeak(() => tf.grad((s: tf.Tensor) => tf.sum(gatherRelativeScores(s as tf.Tensor4D, index)))(scores).dispose());
  expectNoLeak(() => tf.dispose(relativeDistanceIndex(positions, positions, 2)));
  tf.dispose([scores, index, positions]);
});

describe('through the registered wasm kernels (registerMissingKernels)', () => {
  const run = () =>
    tf.tidy(() => {
      const results: number[][] = [];
      // Odd shapes, batch broadcasting (score batch 1) and not, repeated buckets.
      for (const [scoreBatch, batch, heads, queries, keys, distances] of [
        [1, 3, 2, 5, 7, 4],
        [3, 3, 1, 1, 9, 11],
        [2, 2, 3, 4, 1, 2],
      ] as const) {
        const scores = randomTensor([scoreBatch, heads, queries, distances], 60 + keys) as tf.Tensor4D;
        const index = randomIndex([batch, queries, keys], distances, 70 + keys);
        const weights = randomTensor([batch, heads, queries, keys], 80 + keys);
        const [value, gradient] = [
          gatherRelativeScores(scores, index, { validateIndex: false }),
          tf.grad((s: tf.Tensor) => tf.sum(tf.mul(gatherRelativeScores(s as tf.Tensor4D, index), weights)))(scores),
        ];
        results.push(Array.from(value.dataSync()), Array.from(gradient.dataSync()));
      }
      return results;
    });

  test('values and gradients equal the op path on the cpu backend; no leak', async () => {
    const backend = tf.getBackend();
    if (backend !== 'wasm') return; // the kernels exist for wasm only; the cpu project runs the op path above
    registerMissingKernels();
    expect(tf.getKernel(RELATIVE_GATHER, 'wasm')).toBeDefined();
    const wasm = run();
    await tf.setBackend('cpu');
    const cpu = run();
    await tf.setBackend(backend);
    wasm.forEach((values, item) => expectClose(values, cpu[item] as number[], { atol: 1e-6 }));
    const scores = randomTensor([1, 2, 3, 4], 90) as tf.Tensor4D;
    const index = randomIndex([2, 3, 5], 4, 91);
    expectNoLeak(() => tf.grad((s: tf.Tensor) => tf.sum(gatherRelativeScores(s as tf.Tensor4D, index)))(scores).dispose());
    tf.dispose([scores, index]);
  });
});

describe("through Engram's fast kernels (registerFastKernels): one dispatch each", () => {
  withFastKernels();

  /** Every distance output of odd shapes, both broadcasts, far absolute positions and windows, as plain arrays. */
  const cases = (): { values: unknown[] } => {
    const far = 2 ** 30 + 3;
    const random = seededRandom(5);
    const positions = (rows: number, length: number, start: number): tf.Tensor2D =>
      tf.tensor2d(Array.from({ length: rows * length }, () => start + Math.floor(random() * 40)), [rows, length], 'int32');
    const values: unknown[] = [];
    for (const [queryRows, keyRows, queries, keys, start] of [
      [3, 3, 5, 7, far],
      [1, 3, 1, 9, 0],
      [2, 1, 6, 3, far - 17],
      [1, 1, 64, 128, 12],
    ] as const) {
      const query = positions(queryRows, queries, start);
      const key = positions(keyRows, keys, start);
      tf.tidy(() => {
        const before = tf.engine().state.numTensors;
        const distances = positionDistances(query, key);
        const plain = relativeDistanceIndex(query, key, 11);
        const windowed = relativeDistanceIndex(query, key, 30, { window: 7 });
        expect(tf.engine().state.numTensors - before).toBe(5);
        values.push(distances.arraySync(), plain.index.arraySync(), plain.causal.arraySync(), windowed.index.arraySync(), windowed.causal.arraySync());
      });
      tf.dispose([query, key]);
    }
    return { values };
  };

  test('equal the op path on the cpu backend exactly, and leak nothing', async () => {
    await tf.setBackend('wasm');
    const profiled = await tf.profile(() => {
      cases();
    });
    expect(new Set(profiled.kernels.map((kernel) => kernel.name))).toEqual(new Set([POSITION_DISTANCES, RELATIVE_DISTANCE_INDEX]));
    const wasm = cases().values;
    await tf.setBackend('cpu');
    const cpu = cases().values;
    await tf.setBackend('wasm');
    expect(wasm).toEqual(cpu);
    const query = tf.tensor2d([[4, 5]], [1, 2], 'int32');
    expectNoLeak(() => tf.dispose([positionDistances(query, query), ...Object.values(relativeDistanceIndex(query, query, 2, { window: 1 }))]));
    query.dispose();
  });
});
