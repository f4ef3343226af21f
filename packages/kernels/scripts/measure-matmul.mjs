// Measures stock vs fast (registerFastKernels) matmul GFLOP/s and Transpose GB/s on wasm at the bench models' shapes, interleaved.
// With --explicit-transposes it measures instead what the explicit-transpose ops were written for (stock kernels):
// plain vs transpose-flag products, and forward + backward of tf.matMul vs matMul / batchMatMul / groupedMatMul.
// Run after `pnpm --filter @engram/kernels build`: node packages/kernels/scripts/measure-matmul.mjs [--explicit-transposes]
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { batchMatMul, groupedMatMul, matMul, registerFastKernels, unregisterFastKernels } from '../dist/index.js';

tf.env().set('PROD', true);
await tf.setBackend('wasm');

if (!process.argv.includes('--explicit-transposes')) {
  await measureFastKernels();
  measureTransposes();
  process.exit(0);
}

/**
 * The products of one attention layer (forward and backward) and of the 2-D projections, at the bench's `tiny`
 * (batch 8, segment 64, memory 64, width 128, 4 heads: G = 32 groups, T = 64, K = 128 keys, d = 32) and `small`
 * (16, 128, 128, 256, 4: G = 64, T = 128, K = 256, d = 64) shapes. Each entry: [label, batch, M, N, K, transposeA,
 * transposeB]; the stored operands are [batch, M, K] (or [batch, K, M] with transposeA) and [batch, K, N] (or [.., N, K]).
 */
function shapesOf(name, { batch, segment, memory, width, heads, ff }) {
  const groups = batch * heads;
  const d = width / heads;
  const keys = segment + memory;
  const rows = batch * segment;
  return [
    [`${name} scores q k^T`, groups, segment, keys, d, false, true],
    [`${name} context p v`, groups, segment, d, keys, false, false],
    [`${name} d scores dy v^T`, groups, segment, keys, d, false, true],
    [`${name} d values p^T dy`, groups, keys, d, segment, true, false],
    [`${name} d keys ds^T q`, groups, keys, d, segment, true, false],
    [`${name} projection x w`, 1, rows, width, width, false, false],
    [`${name} feed-forward x w1`, 1, rows, ff, width, false, false],
    [`${name} d input dy w^T`, 1, rows, width, ff, false, true],
    [`${name} d weight x^T dy`, 1, width, ff, rows, true, false],
  ];
}

/** Median ms of `sample()` with the stock and with the fast kernels, switching kernels before every sample. */
function interleaved(sample, repeats) {
  const times = { stock: [], fast: [] };
  for (let repeat = -1; repeat < repeats; repeat++) {
    for (const mode of ['stock', 'fast']) {
      if (mode === 'fast') registerFastKernels();
      else unregisterFastKernels();
      const ms = sample();
      if (repeat >= 0) times[mode].push(ms); // repeat -1 warms both up
    }
  }
  unregisterFastKernels();
  const median = (values) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)];
  return { stock: median(times.stock), fast: median(times.fast) };
}

/** tf.transpose at the shapes attention uses (head split and merge, key transposes) and 2-D weight transposes. */
function measureTransposes() {
  const repeats = Number(process.env.REPEATS ?? 7);
  const cases = [
    ['tiny split heads', [8, 64, 4, 32], [0, 2, 1, 3]],
    ['tiny keys [G, K, d] -> [G, d, K]', [32, 128, 32], [0, 2, 1]],
    ['tiny weight [512, 128]^T', [512, 128], [1, 0]],
    ['small split heads', [16, 128, 4, 64], [0, 2, 1, 3]],
    ['small keys [G, K, d] -> [G, d, K]', [64, 256, 64], [0, 2, 1]],
    ['small weight [1024, 256]^T', [1024, 256], [1, 0]],
  ];
  console.log('');
  console.log('| transpose | shape, perm | stock GB/s | fast GB/s | fast / stock |');
  console.log('|---|---|---|---|---|');
  for (const [label, shape, perm] of cases) {
    const x = tf.randomNormal(shape);
    const bytes = 8 * x.size; // read + write
    const calls = Math.max(1, Math.round(2e8 / bytes));
    const sample = () => {
      const start = performance.now();
      for (let call = 0; call < calls; call++) tf.transpose(x, perm).dispose();
      return (performance.now() - start) / calls;
    };
    const times = interleaved(sample, repeats);
    const rate = (mode) => bytes / times[mode] / 1e6;
    console.log(
      `| ${label} | [${shape.join(', ')}], [${perm.join(', ')}] | ${rate('stock').toFixed(2)} | ${rate('fast').toFixed(2)} | ` +
        `${(rate('fast') / rate('stock')).toFixed(1)}x |`,
    );
    x.dispose();
  }
}

async function measureFastKernels() {
  const shapes = [
    ...shapesOf('tiny', { batch: 8, segment: 64, memory: 64, width: 128, heads: 4, ff: 512 }),
    ...shapesOf('small', { batch: 16, segment: 128, memory: 128, width: 256, heads: 4, ff: 1024 }),
  ];
  const repeats = Number(process.env.REPEATS ?? 7);
  console.log('| product | shape (batch x M x N x K, flags) | stock GFLOP/s | fast GFLOP/s | fast / stock |');
  console.log('|---|---|---|---|---|');
  for (const [label, batch, m, n, k, transposeA, transposeB] of shapes) {
    const batchShape = batch === 1 ? [] : [batch];
    const a = tf.randomNormal([...batchShape, ...(transposeA ? [k, m] : [m, k])]);
    const b = tf.randomNormal([...batchShape, ...(transposeB ? [n, k] : [k, n])]);
    const flops = 2 * batch * m * n * k;
    // Enough calls per sample for about 50 ms at 10 GFLOP/s.
    const calls = Math.max(1, Math.round(5e8 / flops));
    const sample = () => {
      const start = performance.now();
      for (let call = 0; call < calls; call++) tf.matMul(a, b, transposeA, transposeB).dispose();
      return (performance.now() - start) / calls;
    };
    const times = interleaved(sample, repeats);
    const rate = (mode) => flops / times[mode] / 1e6;
    const flags = [transposeA ? 'tA' : '', transposeB ? 'tB' : ''].filter(Boolean).join(' ') || 'plain';
    console.log(
      `| ${label} | ${batch} x ${m} x ${n} x ${k}, ${flags} | ${rate('stock').toFixed(1)} | ${rate('fast').toFixed(1)} | ` +
        `${(rate('fast') / rate('stock')).toFixed(1)}x |`,
    );
    tf.dispose([a, b]);
  }
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
