// Measures one attention layer's forward + backward on the rel-shift path against the gather path (wasm, Engram's kernels).
// Run after `pnpm --filter @engram/attention... build`: node packages/attention/scripts/measure-gather.mjs [rounds]
// Prints, per bench speed shape, the median CPU time (process.cpuUsage, user + system) of each case over interleaved
// rounds and the median of the per-round ratios to the rel-shift case. Cases:
//   relshift        contiguous keys, contiguous: true
//   gather-contig   the same contiguous keys, contiguous: false (the gather path on the rel-shift layout)
//   gather-sparse   Expire-Span-like keys: per row, M memories drawn without replacement from the 8M positions before
//                   the segment (sorted), then the T current tokens; contiguous: false
//   gather-near     the same with the M memories drawn from the 2M positions before the segment (largest distance
//                   2M + T - 1, within the 2K rows the table may have)
//   ...-bound       the same with `maxDistance` (K - 1 for contiguous keys, the largest distance for the sparse ones):
//                   the table path without a host read when it has at most 2K rows (contig, near); 8M + T - 1 is
//                   above that, so gather-sparse-bound reads like gather-sparse (clamp 1000 is above 2K at both shapes)
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@engram/kernels';
import { createRandom, createRelativeAttention } from '../dist/index.js';

await initBackend({ backend: 'wasm', threads: 1 });
const rounds = Number(process.argv[2] ?? 15);

const shapes = [
  { name: 'tiny', batch: 8, segment: 64, memory: 64, width: 128, heads: 4 },
  { name: 'small', batch: 16, segment: 128, memory: 128, width: 256, heads: 4 },
];

function keyPositions({ batch, segment, memory }, start, spread) {
  const next = createRandom(7);
  const data = new Int32Array(batch * (memory + segment));
  for (let b = 0; b < batch; b++) {
    let row;
    if (spread > 1) {
      const pool = Array.from({ length: spread * memory }, (_, index) => start - spread * memory + index);
      for (let index = pool.length - 1; index > 0; index--) {
        const other = Math.floor(next() * (index + 1));
        [pool[index], pool[other]] = [pool[other], pool[index]];
      }
      row = pool.slice(0, memory).sort((a, c) => a - c);
    } else {
      row = Array.from({ length: memory }, (_, index) => start - memory + index);
    }
    for (let t = 0; t < segment; t++) row.push(start + t);
    data.set(row, b * (memory + segment));
  }
  return tf.tensor2d(data, [batch, memory + segment], 'int32');
}

function cpuMilliseconds(fn) {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

for (const shape of shapes) {
  const { batch, segment, memory, width, heads } = shape;
  const keysCount = memory + segment;
  const start = 10 * memory + 1000;
  const attention = createRelativeAttention({ modelDim: width, numHeads: heads, clampLength: 1000, namePrefix: 'bench', seed: 3 });
  const keys = tf.randomNormal([batch, keysCount, width], 0, 1, 'float32', 1);
  const queries = tf.slice(keys, [0, memory, 0], [-1, segment, -1]);
  const weights = tf.randomNormal([batch, segment, width], 0, 1, 'float32', 2);
  const queryPositions = tf.tile(tf.reshape(tf.range(start, start + segment, 1, 'int32'), [1, segment]), [batch, 1]);
  const contiguousKeys = keyPositions(shape, start, 1);
  const sparseKeys = keyPositions(shape, start, 8);
  const nearKeys = keyPositions(shape, start, 2);
  const variables = attention.variables();
  const step = (positions, contiguous, maxDistance) => () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const { output } = attention.apply({
          queries,
          keys,
          queryPositions,
          keyPositions: positions,
          contiguous,
          training: true,
          ...(maxDistance === undefined ? {} : { maxDistance }),
        });
        return tf.sum(tf.mul(output, weights));
      }, variables);
      // Wait for every gradient (a no-op on wasm, a sync elsewhere).
      for (const gradient of Object.values(grads)) gradient.dataSync();
      value.dataSync();
    });
  const cases = {
    relshift: step(contiguousKeys, true),
    'gather-contig': step(contiguousKeys, false),
    'gather-contig-bound': step(contiguousKeys, false, keysCount - 1),
    'gather-sparse': step(sparseKeys, false),
    'gather-sparse-bound': step(sparseKeys, false, 8 * memory + segment - 1),
    'gather-near': step(nearKeys, false),
    'gather-near-bound': step(nearKeys, false, 2 * memory + segment - 1),
  };
  const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (const fn of Object.values(cases)) fn();
  const before = tf.memory().numTensors;
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of Object.entries(cases)) samples[name].push(cpuMilliseconds(fn));
  }
  if (tf.memory().numTensors !== before) throw new Error(`leaked ${tf.memory().numTensors - before} tensors`);
  const reference = samples.relshift;
  const summary = Object.entries(samples).map(([name, times]) => {
    const ratio = median(times.map((time, round) => time / reference[round]));
    return `${name} ${median(times).toFixed(1)} ms (x${ratio.toFixed(2)})`;
  });
  console.log(`${shape.name} B${batch} T${segment} M${memory} D${width} H${heads}: ${summary.join(', ')}`);
  tf.dispose([keys, queries, weights, queryPositions, contiguousKeys, sparseKeys, nearKeys]);
  attention.dispose();
}
