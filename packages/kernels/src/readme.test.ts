// The usage example of README.md, run as written (with relative imports), so the documentation cannot rot.
import * as tf from '@tensorflow/tfjs';
import { afterAll, expect, test } from 'vitest';
import { initBackend, maskedSoftmax, relShift, sinusoidEmbedding } from './index.js';
import { expectClose, expectNoLeak } from './testing/index.js';

const testBackend = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(testBackend);
});

test('README usage example', async () => {
  // --- README example start ---
  const info = await initBackend({ backend: 'wasm' }); // or 'auto', or ENGRAM_BACKEND=...
  console.log(`${info.name} simd=${info.simd} threads=${info.threads}`);

  const [memory, queries, width] = [2, 3, 8];
  const keys = memory + queries;
  // Position term of each query against distances keys-1 .. 0, then aligned per query with the rel-shift.
  const query = tf.randomNormal([queries, width]);
  const distances = Array.from({ length: keys }, (_, column) => keys - 1 - column);
  const embedding = sinusoidEmbedding(distances, width); // [K, D]: sin block then cos block
  const positionScores = tf.matMul(query, embedding, false, true); // [T, K]
  const aligned = relShift(tf.reshape(positionScores, [1, 1, queries, keys]) as tf.Tensor4D);
  // Query i (key index memory + i) sees keys 0 .. memory + i.
  const causal = tf.tensor4d(
    Array.from({ length: queries * keys }, (_, flat) => (flat % keys <= memory + Math.floor(flat / keys) ? 1 : 0)),
    [1, 1, queries, keys],
  );
  const probabilities = maskedSoftmax(aligned, { mask: causal }); // [1, 1, T, K], rows sum to 1
  // --- README example end ---

  expect(info.name).toBe('wasm');
  expectClose(tf.sum(probabilities, -1), [[[1, 1, 1]]], { atol: 1e-6 });
  expect((probabilities as tf.Tensor4D).arraySync()[0]?.[0]?.[0]?.slice(memory + 1)).toEqual([0, 0]);
  tf.dispose([query, embedding, positionScores, aligned, causal, probabilities]);
  expectNoLeak(() => tf.tidy(() => void maskedSoftmax(relShift(tf.zeros([1, 1, 2, 3]) as tf.Tensor4D))));
});
