// The per-pair position-score kernel against loops, broadcasting and clamped indices, and the attention core on it against the op path on cpu (values and gradients).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { randomTensor, seededRandom, withFastKernels } from '../test-support.js';
import { checkGradients, expectClose, expectNoLeak } from '../testing/index.js';
import { relativeAttentionCore } from '../ops/attention-core.js';
import { PAIR_SCORES } from './pair-scores.js';

interface Shape {
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  keys: number;
  buckets: number;
  positionBatch: number;
  indexBatch: number;
}

const SHAPES: Shape[] = [
  { batch: 2, heads: 3, headDim: 5, queries: 3, keys: 7, buckets: 4, positionBatch: 1, indexBatch: 2 },
  { batch: 3, heads: 1, headDim: 9, queries: 1, keys: 5, buckets: 11, positionBatch: 3, indexBatch: 1 },
  { batch: 1, heads: 4, headDim: 8, queries: 6, keys: 2, buckets: 3, positionBatch: 1, indexBatch: 1 },
  // The head widths with register paths (16, 32, 64 floats), key counts with and without a tail of 1-3 keys.
  { batch: 2, heads: 2, headDim: 16, queries: 3, keys: 11, buckets: 5, positionBatch: 1, indexBatch: 2 },
  { batch: 1, heads: 3, headDim: 32, queries: 2, keys: 8, buckets: 9, positionBatch: 1, indexBatch: 1 },
  { batch: 2, heads: 1, headDim: 64, queries: 2, keys: 6, buckets: 4, positionBatch: 2, indexBatch: 1 },
  { batch: 2, heads: 2, headDim: 3, queries: 4, keys: 9, buckets: 6, positionBatch: 2, indexBatch: 2 },
];

function pairInputs(s: Shape, seed: number) {
  const width = s.heads * s.headDim;
  const random = seededRandom(seed);
  // Buckets -1 and P (out of range) are clamped by the kernel; the references clamp them the same way.
  const index = Array.from({ length: s.indexBatch * s.queries * s.keys }, () => Math.floor(random() * (s.buckets + 2)) - 1);
  return {
    queries: randomTensor([s.batch, s.queries, width], seed + 1) as tf.Tensor3D,
    positions: randomTensor([s.positionBatch, s.buckets, width], seed + 2) as tf.Tensor3D,
    index: tf.tensor3d(index, [s.indexBatch, s.queries, s.keys], 'int32'),
  };
}

/** The scores by loops in float64. */
function loops(s: Shape, x: ReturnType<typeof pairInputs>) {
  const width = s.heads * s.headDim;
  const [q, r] = [x.queries, x.positions].map((t) => t.dataSync()) as [Float32Array, Float32Array];
  const index = x.index.dataSync();
  const scores = new Array<number>(s.batch * s.heads * s.queries * s.keys).fill(0);
  for (let b = 0; b < s.batch; b++)
    for (let h = 0; h < s.heads; h++)
      for (let i = 0; i < s.queries; i++)
        for (let j = 0; j < s.keys; j++) {
          const raw = index[((s.indexBatch === 1 ? 0 : b) * s.queries + i) * s.keys + j] as number;
          const bucket = Math.min(Math.max(raw, 0), s.buckets - 1);
          const at = ((b * s.heads + h) * s.queries + i) * s.keys + j;
          for (let e = 0; e < s.headDim; e++) {
            const qAt = (b * s.queries + i) * width + h * s.headDim + e;
            const rAt = ((s.positionBatch === 1 ? 0 : b) * s.buckets + bucket) * width + h * s.headDim + e;
            scores[at] = (scores[at] as number) + (q[qAt] as number) * (r[rAt] as number);
          }
        }
  return scores;
}

describe('pair position scores (native/pairs.c)', () => {
  withFastKernels();

  test.each(SHAPES)('values equal float64 loops: %o', (s) => {
    const x = pairInputs(s, 20 + s.keys);
    const scores = tf.engine().runKernel(PAIR_SCORES, { queries: x.queries, positions: x.positions, index: x.index }, { heads: s.heads }) as tf.Tensor;
    expect(scores.shape).toEqual([s.batch, s.heads, s.queries, s.keys]);
    expectClose(scores.dataSync(), loops(s, x), { atol: 1e-5 });
    tf.dispose([scores, ...Object.values(x)]);
  });

  test('refuses inputs that do not fit, and leaks nothing', () => {
    const s = SHAPES[0] as Shape;
    const x = pairInputs(s, 7);
    const run = (inputs: Record<string, tf.Tensor>, heads = s.heads) => tf.engine().runKernel(PAIR_SCORES, inputs, { heads }) as tf.Tensor;
    expect(() => run({ ...x, index: tf.cast(x.index, 'float32') })).toThrow(/int32 index/);
    expect(() => run(x, 2)).toThrow(/divisible by heads 2/);
    expect(() => run({ ...x, positions: tf.zeros([2, 4, 7]) })).toThrow(/do not fit/);
    expectNoLeak(() => run(x).dispose());
    tf.dispose(Object.values(x));
  });
});

describe('the attention core on the gather path with the pair kernels', () => {
  withFastKernels();

  const batch = 2;
  const heads = 3;
  const headDim = 5;
  const queries = 4;
  const keys = 9;
  const buckets = 7;
  const width = heads * headDim;
  const build = () => {
    const random = seededRandom(3);
    const maskValues = Array.from({ length: queries * keys }, (_, flat) => (flat % keys <= keys - queries + Math.floor(flat / keys) ? 1 : 0));
    return {
      qu: randomTensor([batch, queries, width], 31) as tf.Tensor3D,
      qv: randomTensor([batch, queries, width], 32) as tf.Tensor3D,
      k: randomTensor([batch, keys, width], 33) as tf.Tensor3D,
      v: randomTensor([batch, keys, width], 34) as tf.Tensor3D,
      r: randomTensor([1, buckets, width], 35) as tf.Tensor3D,
      soft: tf.tensor4d(Array.from({ length: batch * queries * keys }, () => 0.2 + 0.8 * random()), [batch, 1, queries, keys]),
      mask: tf.tensor4d(maskValues, [1, 1, queries, keys]),
      index: tf.tensor3d(Array.from({ length: batch * queries * keys }, () => Math.floor(random() * buckets)), [batch, queries, keys], 'int32'),
    };
  };
  /** The core's output and the gradients of a weighted sum of it with respect to its six float inputs. */
  const run = (x: ReturnType<typeof build>, withSoft: boolean) =>
    tf.tidy(() => {
      const weights = randomTensor([batch, queries, width], 36);
      const f = (qu: tf.Tensor, qv: tf.Tensor, k: tf.Tensor, v: tf.Tensor, r: tf.Tensor, soft: tf.Tensor) =>
        relativeAttentionCore(qu as tf.Tensor3D, qv as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, r as tf.Tensor3D, {
          heads,
          mask: x.mask,
          positionIndex: x.index,
          ...(withSoft ? { softMask: soft } : {}),
        });
      const value = f(x.qu, x.qv, x.k, x.v, x.r, x.soft);
      const sources = withSoft ? [x.qu, x.qv, x.k, x.v, x.r, x.soft] : [x.qu, x.qv, x.k, x.v, x.r];
      const grads = tf.grads((...inputs: tf.Tensor[]) => {
        const [qu, qv, k, v, r, soft] = inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        return tf.sum(tf.mul(f(qu, qv, k, v, r, soft ?? x.soft), weights));
      })(sources);
      return [value, ...grads].map((tensor) => Array.from(tensor.dataSync()));
    });

  test('values and gradients equal the op path on the cpu backend, with and without a soft mask; one pair dispatch per forward', async () => {
    for (const withSoft of [false, true]) {
      await tf.setBackend('wasm');
      const onWasm = build();
      const profile = await tf.profile(() => {
        run(onWasm, withSoft);
      });
      const names = profile.kernels.map((kernel) => kernel.name);
      expect(names.filter((name) => name === PAIR_SCORES)).toHaveLength(2); // the value, and the forward inside tf.grads
      const wasm = run(onWasm, withSoft);
      tf.dispose(Object.values(onWasm));
      await tf.setBackend('cpu');
      const onCpu = build();
      const cpu = run(onCpu, withSoft);
      tf.dispose(Object.values(onCpu));
      await tf.setBackend('wasm');
      wasm.forEach((values, item) => expectClose(values, cpu[item] as number[], { atol: 2e-5 }));
    }
  });

  test('gradients match finite differences and nothing leaks', async () => {
    await tf.setBackend('wasm');
    const x = build();
    const weights = randomTensor([batch, queries, width], 37);
    const loss = (qv: tf.Tensor, r: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(relativeAttentionCore(x.qu, qv as tf.Tensor3D, x.k, x.v, r as tf.Tensor3D, { heads, mask: x.mask, positionIndex: x.index, softMask: x.soft }), weights)) as tf.Scalar;
    checkGradients((qv, r) => loss(qv as tf.Tensor, r as tf.Tensor), [x.qv, x.r]);
    expectNoLeak(() => tf.dispose(tf.grads((qv: tf.Tensor, r: tf.Tensor) => loss(qv, r))([x.qv, x.r])));
    tf.dispose([...Object.values(x), weights]);
  });
});
