import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@engram/kernels';
import { median } from '../src/suites/speed.js';
await initBackend({ backend: 'wasm', threads: 1 });
const cases: [string, () => tf.Tensor][] = [];
const qi = tf.randomUniform([8, 64, 1], 0, 100, 'int32'); const ki = tf.randomUniform([8, 1, 128], 0, 100, 'int32');
const qf = tf.randomUniform([8, 64, 1]); const kf = tf.randomUniform([8, 1, 128]);
const a = tf.randomUniform([8, 64, 128]); const b = tf.randomUniform([8, 64, 128]); const bias = tf.randomUniform([128]); const col = tf.randomUniform([8, 64, 1]);
const a4 = tf.randomUniform([8, 4, 64, 128]); const m4 = tf.randomUniform([8, 1, 64, 128]);
const ai = tf.randomUniform([8, 64, 128], 0, 100, 'int32'); const bi = tf.randomUniform([8, 64, 128], 0, 100, 'int32');
cases.push(['sub int same', () => tf.sub(ai, bi)], ['add int bcast', () => tf.add(qi, ki)], ['less int bcast', () => tf.less(qi, ki)], ['bcastTo int', () => tf.broadcastTo(qi, [8, 64, 128])], ['tile int', () => tf.tile(qi, [1, 1, 128])], ['sub via bcastTo', () => tf.sub(tf.broadcastTo(qi, [8, 64, 128]), tf.broadcastTo(ki, [8, 64, 128]))], ['sub int bcast', () => tf.sub(qi, ki)], ['sub float bcast', () => tf.sub(qf, kf)], ['add same', () => tf.add(a, b)], ['add bias', () => tf.add(a, bias)], ['mul col', () => tf.mul(a, col)], ['mul 4d head-bcast', () => tf.mul(a4, m4)], ['ge scalar', () => tf.greaterEqual(a, 0.5)], ['exp', () => tf.exp(a)], ['sum last', () => tf.sum(a, -1)]);
for (const [name, f] of cases) {
  const t: number[] = [];
  for (let i = 0; i < 30; i++) { const s = performance.now(); const r = f(); r.dataSync(); t.push(performance.now() - s); r.dispose(); }
  console.log(name.padEnd(20), median(t.slice(5)).toFixed(3), 'ms');
}
