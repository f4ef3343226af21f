// relativeAttentionCore against a loop reference (values) and the unfused ops (values and gradients), finite differences, leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { offset, randomTensor, seededRandom } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { relativeAttentionCore, type RelativeAttentionCoreOptions } from './attention-core.js';
import { headApply, headScores } from './head-matmul.js';
import { maskedSoftmax } from './masked-softmax.js';
import { relShift } from './rel-shift.js';
import { gatherRelativeScores } from './relative-gather.js';

interface Case {
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  keys: number;
  /** Distances of the gather path (absent: rel-shift, P = K). */
  distances?: number;
}

/** Inputs of one case: queries, keys, values, positions, causal-style mask, optional index and soft mask. */
function inputs(c: Case, seed: number, withSoftMask: boolean, softZeros = true) {
  const width = c.heads * c.headDim;
  const distances = c.distances ?? c.keys;
  const memory = c.keys - c.queries;
  const maskValues: number[] = [];
  for (let i = 0; i < c.queries; i++) for (let j = 0; j < c.keys; j++) maskValues.push(j <= memory + i ? 1 : 0);
  const random = seededRandom(seed + 100);
  const index = c.distances === undefined
    ? undefined
    : tf.tensor3d(Array.from({ length: c.batch * c.queries * c.keys }, () => Math.floor(random() * distances)), [c.batch, c.queries, c.keys], 'int32');
  const softMask = withSoftMask
    ? tf.tensor4d(Array.from({ length: c.batch * c.queries * c.keys }, (_, flat) => (softZeros && flat % 7 === 3 ? 0 : 0.2 + 0.8 * random())), [c.batch, 1, c.queries, c.keys])
    : undefined;
  return {
    qu: randomTensor([c.batch, c.queries, width], seed) as tf.Tensor3D,
    qv: randomTensor([c.batch, c.queries, width], seed + 1) as tf.Tensor3D,
    k: randomTensor([c.batch, c.keys, width], seed + 2) as tf.Tensor3D,
    v: randomTensor([c.batch, c.keys, width], seed + 3) as tf.Tensor3D,
    r: randomTensor([1, distances, width], seed + 4) as tf.Tensor3D,
    mask: tf.tensor4d(maskValues, [1, 1, c.queries, c.keys]),
    index,
    softMask,
  };
}
type Inputs = ReturnType<typeof inputs>;

function tensorsOf(x: Inputs): tf.Tensor[] {
  return [x.qu, x.qv, x.k, x.v, x.r, x.mask, ...(x.index ? [x.index] : []), ...(x.softMask ? [x.softMask] : [])];
}

function options(c: Case, x: Inputs, softMask: tf.Tensor | undefined, dropout?: { rate: number; seed: number }): RelativeAttentionCoreOptions {
  return { heads: c.heads, mask: x.mask, ...(x.index ? { positionIndex: x.index } : {}), ...(softMask ? { softMask } : {}), ...(dropout ? { dropout } : {}) };
}

/** The same attention from the unfused, separately tested ops. */
function unfused(c: Case, qu: tf.Tensor3D, qv: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, r: tf.Tensor3D, x: Inputs, softMask?: tf.Tensor, dropout?: { rate: number; seed: number }): tf.Tensor3D {
  return tf.tidy(() => {
  const raw = headScores(qv, r, c.heads);
  const position = x.index ? gatherRelativeScores(raw, x.index, { validateIndex: false }) : relShift(raw);
  const scores = tf.add(headScores(qu, k, c.heads), position);
  const probabilities = maskedSoftmax(scores, softMask ? { mask: x.mask, softMask } : { mask: x.mask });
  const used = dropout ? tf.dropout(probabilities, dropout.rate, undefined, dropout.seed) : probabilities;
  return headApply(used as tf.Tensor4D, v, c.heads);
  });
}

/** Loop reference of the forward pass (no dropout). */
function loopReference(c: Case, x: Inputs): number[] {
  const width = c.heads * c.headDim;
  const [qu, qv, k, v, r] = [x.qu, x.qv, x.k, x.v, x.r].map((t) => t.dataSync()) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const index = x.index?.dataSync();
  const soft = x.softMask?.dataSync();
  const mask = x.mask.dataSync();
  const out = new Array<number>(c.batch * c.queries * width).fill(0);
  for (let b = 0; b < c.batch; b++)
    for (let h = 0; h < c.heads; h++)
      for (let i = 0; i < c.queries; i++) {
        const logits: number[] = [];
        const visible: number[] = [];
        for (let j = 0; j < c.keys; j++) {
          // Row of r: the gathered slot, or on the rel-shift path K-1-(M+i-j) for the key's distance M+i-j (none above the diagonal).
          const row = index ? (index[offset([c.batch, c.queries, c.keys], b, i, j)] as number) : c.keys - 1 - (c.keys - c.queries + i - j);
          let score = 0;
          for (let e = 0; e < c.headDim; e++) {
            const column = h * c.headDim + e;
            score += (qu[(b * c.queries + i) * width + column] as number) * (k[(b * c.keys + j) * width + column] as number);
            if (index || j <= c.keys - c.queries + i) score += (qv[(b * c.queries + i) * width + column] as number) * (r[row * width + column] as number);
          }
          const m = soft ? (soft[offset([c.batch, 1, c.queries, c.keys], b, 0, i, j)] as number) : 1;
          visible.push((mask[i * c.keys + j] as number) === 1 && m > 0 ? 1 : 0);
          logits.push(score);
        }
        const top = Math.max(...logits.filter((_, j) => visible[j] === 1), -Infinity);
        const weights = logits.map((s, j) => (visible[j] === 1 ? Math.exp(s - top) : 0));
        const total = weights.reduce((a, w) => a + w, 0);
        let probabilities = weights.map((w) => (total > 0 ? w / total : 0));
        if (soft) {
          const masked = probabilities.map((p, j) => p * (soft[offset([c.batch, 1, c.queries, c.keys], b, 0, i, j)] as number));
          const sum = masked.reduce((a, w) => a + w, 0) + 1e-8;
          probabilities = masked.map((w) => w / sum);
        }
        for (let j = 0; j < c.keys; j++)
          for (let e = 0; e < c.headDim; e++) {
            const column = h * c.headDim + e;
            const at = (b * c.queries + i) * width + column;
            out[at] = (out[at] as number) + (probabilities[j] as number) * (v[(b * c.keys + j) * width + column] as number);
          }
      }
  return out;
}

const cases: Array<[string, Case]> = [
  ['rel-shift, odd sizes', { batch: 2, heads: 3, headDim: 5, queries: 3, keys: 7 }],
  ['rel-shift, no memory', { batch: 1, heads: 2, headDim: 3, queries: 4, keys: 4 }],
  ['gather, odd sizes', { batch: 3, heads: 2, headDim: 3, queries: 5, keys: 6, distances: 4 }],
];

describe.each(cases)('%s', (_, c) => {
  for (const withSoftMask of [false, true]) {
    test(`values equal the loop reference and the unfused ops; gradients equal the unfused ops (soft mask: ${withSoftMask})`, () => {
      const x = inputs(c, 11, withSoftMask);
      expectNoLeak(() => {
        const fused = relativeAttentionCore(x.qu, x.qv, x.k, x.v, x.r, options(c, x, x.softMask));
        expectClose(fused.dataSync(), Float32Array.from(loopReference(c, x)), { atol: 1e-5, rtol: 1e-4 });
        const plain = unfused(c, x.qu, x.qv, x.k, x.v, x.r, x, x.softMask);
        expectClose(fused, plain, { atol: 1e-6, rtol: 1e-6 });
        const weights = randomTensor(fused.shape, 12);
        const differentiable = [x.qu, x.qv, x.k, x.v, x.r, ...(x.softMask ? [x.softMask] : [])];
        const lossOf = (run: (...t: tf.Tensor[]) => tf.Tensor3D) => (...t: tf.Tensor[]) => tf.sum(tf.mul(run(...t), weights)) as tf.Scalar;
        const fusedGradients = tf.grads(lossOf((qu, qv, k, v, r, soft) => relativeAttentionCore(qu as tf.Tensor3D, qv as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, r as tf.Tensor3D, options(c, x, soft))))(differentiable);
        const plainGradients = tf.grads(lossOf((qu, qv, k, v, r, soft) => unfused(c, qu as tf.Tensor3D, qv as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, r as tf.Tensor3D, x, soft)))(differentiable);
        fusedGradients.forEach((gradient, index) => expectClose(gradient, plainGradients[index] as tf.Tensor, { atol: 1e-6, rtol: 1e-5 }));
        tf.dispose([fused, plain, weights, ...fusedGradients, ...plainGradients]);
      });
      tf.dispose(tensorsOf(x));
    });
  }

  test('with dropout: values and gradients equal the unfused ops with the same seed', () => {
    const x = inputs(c, 21, true);
    const dropout = { rate: 0.3, seed: 5 };
    expectNoLeak(() => {
      const fused = relativeAttentionCore(x.qu, x.qv, x.k, x.v, x.r, options(c, x, x.softMask, dropout));
      const plain = unfused(c, x.qu, x.qv, x.k, x.v, x.r, x, x.softMask, dropout);
      expectClose(fused, plain, { atol: 1e-6, rtol: 1e-6 });
      const differentiable = [x.qu, x.qv, x.k, x.v, x.r, x.softMask as tf.Tensor];
      const fusedGradients = tf.grads((qu, qv, k, v, r, soft) => tf.sum(relativeAttentionCore(qu as tf.Tensor3D, qv as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, r as tf.Tensor3D, options(c, x, soft, dropout))) as tf.Scalar)(differentiable);
      const plainGradients = tf.grads((qu, qv, k, v, r, soft) => tf.sum(unfused(c, qu as tf.Tensor3D, qv as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, r as tf.Tensor3D, x, soft, dropout)) as tf.Scalar)(differentiable);
      fusedGradients.forEach((gradient, index) => expectClose(gradient, plainGradients[index] as tf.Tensor, { atol: 1e-6, rtol: 1e-5 }));
      tf.dispose([fused, plain, ...fusedGradients, ...plainGradients]);
    });
    tf.dispose(tensorsOf(x));
  });
});

test('gradients match finite differences (gather path with a soft mask, and rel-shift)', () => {
  for (const c of [{ batch: 1, heads: 2, headDim: 2, queries: 2, keys: 3, distances: 3 }, { batch: 2, heads: 1, headDim: 3, queries: 2, keys: 3 }] as Case[]) {
    // Soft-mask values away from 0: a zero hides its key (a step the finite difference would cross).
    const x = inputs(c, 31, c.distances !== undefined, false);
    const weights = randomTensor([c.batch, c.queries, c.heads * c.headDim], 32);
    const differentiable = [x.qu, x.qv, x.k, x.v, x.r, ...(x.softMask ? [x.softMask] : [])];
    checkGradients(
      (qu, qv, k, v, r, soft) => tf.sum(tf.mul(relativeAttentionCore(qu as tf.Tensor3D, qv as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, r as tf.Tensor3D, options(c, x, soft)), weights)) as tf.Scalar,
      differentiable,
      { epsilon: 1e-2, atol: 2e-3, rtol: 2e-2 },
    );
    tf.dispose([weights, ...tensorsOf(x)]);
  }
});

test('clear errors for mismatched shapes, dtypes and rates', () => {
  const c: Case = { batch: 1, heads: 2, headDim: 2, queries: 2, keys: 3 };
  const x = inputs(c, 41, false);
  expect(() => relativeAttentionCore(x.qu, x.qv, x.k, x.v, x.r, { ...options(c, x, undefined), heads: 3 })).toThrow(/divisor of the width 4/);
  expect(() => relativeAttentionCore(x.qu, x.qv, x.k, x.qu, x.r, options(c, x, undefined))).toThrow(InvalidArgumentError);
  const fewer = tf.slice(x.r, [0, 0, 0], [1, 2, -1]) as tf.Tensor3D;
  expect(() => relativeAttentionCore(x.qu, x.qv, x.k, x.v, fewer, options(c, x, undefined))).toThrow(/positionIndex/);
  expect(() => relativeAttentionCore(x.qu, x.qv, x.k, x.v, x.r, { ...options(c, x, undefined), dropout: { rate: 1, seed: 0 } })).toThrow(/rate in \[0, 1\)/);
  const wrongIndex = tf.zeros([1, 2, 2], 'int32') as tf.Tensor3D;
  expect(() => relativeAttentionCore(x.qu, x.qv, x.k, x.v, x.r, { ...options(c, x, undefined), positionIndex: wrongIndex })).toThrow(/positionIndex/);
  tf.dispose([fewer, wrongIndex, ...tensorsOf(x)]);
});
