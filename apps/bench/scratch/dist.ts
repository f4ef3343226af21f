import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@engram/kernels';
import { median } from '../src/suites/speed.js';
await initBackend({ backend: 'wasm', threads: 1 });
const q = tf.add(tf.randomUniform([8, 64], 0, 100, 'int32'), tf.scalar(2e9 | 0, 'int32')); const k = tf.add(tf.randomUniform([8, 128], 0, 100, 'int32'), tf.scalar(2e9 | 0, 'int32'));
const f = tf.randomUniform([8, 64, 128], -50, 200);
const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
  ['min q', () => tf.min(q)],
  ['q - base', () => tf.sub(q, tf.min(q))],
  ['rebased float dist', () => tf.tidy(() => { const b = tf.min(q); return tf.sub(tf.expandDims(tf.cast(tf.sub(q, b), 'float32'), 2), tf.expandDims(tf.cast(tf.sub(k, b), 'float32'), 1)); })],
  ['clip+cast int', () => tf.cast(tf.clipByValue(f, 0, 100), 'int32')],
  ['row rebased', () => tf.tidy(() => { const b = tf.slice(q, [0, 0], [-1, 1]); return tf.sub(tf.expandDims(tf.cast(tf.sub(q, b), 'float32'), 2), tf.expandDims(tf.cast(tf.sub(k, b), 'float32'), 1)); })],
  ['clip float', () => tf.clipByValue(f, 0, 100)],
  ['cast int', () => tf.cast(f, 'int32')],
  ['min max float', () => tf.minimum(tf.maximum(f, 0), 100)],
  ['ge float', () => tf.cast(tf.greaterEqual(f, 0), 'float32')],
  ['step float', () => tf.step(f)],
];
for (const [name, fn] of cases) {
  const t: number[] = [];
  for (let i = 0; i < 30; i++) { const s = performance.now(); const r = fn(); (Array.isArray(r) ? r[0]! : r).dataSync(); t.push(performance.now() - s); tf.dispose(r); }
  console.log(name.padEnd(20), median(t.slice(5)).toFixed(3), 'ms');
}
