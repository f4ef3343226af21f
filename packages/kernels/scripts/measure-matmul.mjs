// Measures plain vs transpose-flag products, and forward + backward of tf.matMul vs the explicit-transpose ops, on wasm.
// Run after `pnpm --filter @engram/kernels build`: node packages/kernels/scripts/measure-matmul.mjs
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { batchMatMul, groupedMatMul, matMul } from '../dist/index.js';

tf.env().set('PROD', true);
await tf.setBackend('wasm');

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
    Object.entries(samples).map(([name, times]) => [name, Number(times.sort((a, b) => a - b)[Math.floor(times.length / 2)].toFixed(1))]),
  );
}

// Reads back one number (the sum): reading a whole output with dataSync costs more than the product on wasm.
const run = (fn) => () => tf.tidy(() => tf.sum(fn()).dataSync());

// 2-D projection shape: [rows, D] @ [D, D].
for (const [rows, width] of [[256, 256], [512, 512]]) {
  const a = tf.randomNormal([rows, width]);
  const b = tf.randomNormal([width, width]);
  const aT = tf.transpose(a);
  const bT = tf.transpose(b);
  const weights = tf.randomNormal([rows, width]);
  const forward = medians(
    {
      plain: run(() => tf.matMul(a, b)),
      transposeA: run(() => tf.matMul(aT, b, true, false)),
      transposeB: run(() => tf.matMul(a, bT, false, true)),
    },
    7,
  );
  const backward = medians(
    {
      tfMatMul: run(() => tf.addN(tf.grads((x, y) => tf.sum(tf.mul(tf.matMul(x, y), weights)))([a, b]).map((g) => tf.sum(g)))),
      engramMatMul: run(() => tf.addN(tf.grads((x, y) => tf.sum(tf.mul(matMul(x, y), weights)))([a, b]).map((g) => tf.sum(g)))),
    },
    7,
  );
  console.log(`2-D [${rows}, ${width}] @ [${width}, ${width}] forward ms`, JSON.stringify(forward), 'forward+backward ms', JSON.stringify(backward));
  tf.dispose([a, b, aT, bT, weights]);
}

// Attention-shaped batched product: [G, T, d] @ [G, d, K] (G = heads * batch).
for (const [groups, queries, headWidth, keys] of [[16, 64, 32, 128], [32, 128, 64, 256], [4, 256, 256, 256]]) {
  const a = tf.randomNormal([groups, queries, headWidth]);
  const b = tf.randomNormal([groups, headWidth, keys]);
  const aT = tf.transpose(a, [0, 2, 1]);
  const bT = tf.transpose(b, [0, 2, 1]);
  const weights = tf.randomNormal([groups, queries, keys]);
  const forward = medians(
    {
      plain: run(() => tf.matMul(a, b)),
      transposeA: run(() => tf.matMul(aT, b, true, false)),
      transposeB: run(() => tf.matMul(a, bT, false, true)),
      grouped: run(() => groupedMatMul(a, b)),
    },
    7,
  );
  const backward = medians(
    {
      tfMatMul: run(() => tf.addN(tf.grads((x, y) => tf.sum(tf.mul(tf.matMul(x, y), weights)))([a, b]).map((g) => tf.sum(g)))),
      engramGroupedMatMul: run(() => tf.addN(tf.grads((x, y) => tf.sum(tf.mul(groupedMatMul(x, y), weights)))([a, b]).map((g) => tf.sum(g)))),
      engramBatchMatMul: run(() => tf.addN(tf.grads((x, y) => tf.sum(tf.mul(batchMatMul(x, y), weights)))([a, b]).map((g) => tf.sum(g)))),
    },
    7,
  );
  console.log(
    `batched [${groups}, ${queries}, ${headWidth}] @ [${groups}, ${headWidth}, ${keys}] forward ms`,
    JSON.stringify(forward),
    'forward+backward ms',
    JSON.stringify(backward),
  );
  tf.dispose([a, b, aT, bT, weights]);
}
