// Standalone check of @engram/expire-span: the policy of its README example, driven directly (no @engram/model installed).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createExpireSpanPolicy } from '@engram/expire-span';
import { disposeState, disposeStateExcept } from '@engram/memory';

await tf.setBackend('wasm');
await tf.ready();

// From the README: const policy = createExpireSpanPolicy({ maxSpan: 64, ramp: 8, alpha: 1e-6 });
const policy = createExpireSpanPolicy({ maxSpan: 64, ramp: 8, alpha: 1e-6 });
policy.build({ numLayers: 2, modelDim: 16, numHeads: 2, segmentLength: 8 });
const before = tf.memory().numTensors;
let state = policy.initialState(2);
for (let step = 0; step < 4; step++) {
  const layerInputs = [0, 1].map(() => tf.randomNormal([2, 8, 16], 0, 1, 'float32', step));
  const positions = tf.tidy(() => tf.tile(tf.range(step * 8, (step + 1) * 8, 1, 'int32').reshape([1, 8]), [2, 1]));
  const next = policy.write(state, { layerInputs, positions, contentAttention: [], training: true });
  disposeStateExcept(state, next);
  state = next;
  tf.dispose([...layerInputs, positions]);
}
const { memorySlots, perLayer } = policy.telemetry(state);
console.log('expire-span: memory slots per layer', memorySlots, 'mean span', perLayer.meanSpan);
if (!(memorySlots.every((slots) => slots > 0 && slots <= 32))) throw new Error(`unexpected memory slots ${memorySlots}`);
if (policy.temporalRange(2) <= 0) throw new Error('temporal range must be positive');
disposeState(state);
if (tf.memory().numTensors !== before) throw new Error(`leaked ${tf.memory().numTensors - before} tensors`);
policy.dispose();
console.log('expire-span: ok');
