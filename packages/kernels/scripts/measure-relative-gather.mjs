// Measures forward + backward time of three formulations of the relative-position gather on wasm and cpu.
// Run after `pnpm --filter @engram/kernels build`: node packages/kernels/scripts/measure-relative-gather.mjs
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { gatherRelativeScores, registerMissingKernels } from '../dist/index.js';

tf.env().set('PROD', true);
registerMissingKernels();

/** (a) the shipped op: flat gather forward, scatterND backward (tf.customGrad). */
const customScatter = (scores, index) => gatherRelativeScores(scores, index, { validateIndex: false });

/** (b) flat gather with tfjs's own gather gradient (UnsortedSegmentSum: our wasm kernel, the cpu's own kernel). */
function builtinGather(scores, index) {
  const [scoreBatch, heads, queries, distances] = scores.shape;
  const [batch, , keys] = index.shape;
  const rowStart = new Int32Array(batch * heads * queries);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < queries; i++)
        rowStart[(b * heads + h) * queries + i] = (((scoreBatch === 1 ? 0 : b) * heads + h) * queries + i) * distances;
  const flat = tf.reshape(tf.add(tf.tensor4d(rowStart, [batch, heads, queries, 1], 'int32'), tf.reshape(index, [batch, 1, queries, keys])), [-1]);
  return tf.reshape(tf.gather(tf.reshape(scores, [-1]), flat), [batch, heads, queries, keys]);
}

/** (c) one-hot matmul: out[b,i] (H x K) = scores[b,:,i,:] (H x P) @ onehot[b,i]^T (P x K), batched over B*T. */
function oneHotMatmul(scores, index) {
  const [, heads, queries, distances] = scores.shape;
  const [batch, , keys] = index.shape;
  const tiled = scores.shape[0] === batch ? scores : tf.tile(scores, [batch, 1, 1, 1]);
  const left = tf.reshape(tf.transpose(tiled, [0, 2, 1, 3]), [batch * queries, heads, distances]);
  const right = tf.reshape(tf.cast(tf.oneHot(index, distances), 'float32'), [batch * queries, keys, distances]);
  const product = tf.matMul(left, right, false, true); // [B*T, H, K]
  return tf.transpose(tf.reshape(product, [batch, queries, heads, keys]), [0, 2, 1, 3]);
}

/** Median time of `repeats` calls of each function, interleaved so machine load hits every variant alike. */
function medians(functions, repeats) {
  const samples = Object.fromEntries(Object.keys(functions).map((name) => [name, []]));
  for (const fn of Object.values(functions)) fn(); // warm-up
  for (let r = 0; r < repeats; r++) {
    for (const [name, fn] of Object.entries(functions)) {
      const start = performance.now();
      fn();
      samples[name].push(performance.now() - start);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, times]) => [name, `${times.sort((a, b) => a - b)[Math.floor(times.length / 2)].toFixed(1)} ms`]),
  );
}

const sizes = [
  { batch: 2, heads: 4, queries: 32, keys: 64 },
  { batch: 4, heads: 8, queries: 64, keys: 256 },
];
for (const backend of ['wasm', 'cpu']) {
  await tf.setBackend(backend);
  for (const { batch, heads, queries, keys } of sizes) {
    const distances = keys; // one bucket per distance 0..K-1
    const scores = tf.randomNormal([batch, heads, queries, distances]);
    const index = tf.randomUniform([batch, queries, keys], 0, distances, 'int32');
    const weights = tf.randomNormal([batch, heads, queries, keys]);
    const variants = { customScatter, builtinGather, oneHotMatmul };
    // cpu's own UnsortedSegmentSum is O(segments x elements): only the small size finishes.
    if (backend === 'cpu' && keys > 64) delete variants.builtinGather;
    const steps = Object.fromEntries(
      Object.entries(variants).map(([name, op]) => [
        name,
        () => tf.tidy(() => tf.grad((s) => tf.sum(tf.mul(op(s, index), weights)))(scores).dataSync()),
      ]),
    );
    console.log(backend, `B=${batch} H=${heads} T=${queries} K=P=${keys}`, JSON.stringify(medians(steps, 5)));
    tf.dispose([scores, index, weights]);
  }
}
