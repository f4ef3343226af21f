// Standalone check of @engram/compression: the policy and compressor of its README example, driven directly (no @engram/model installed).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createCompressivePolicy, createConvCompressor } from '@engram/compression';
import { disposeState, disposeStateExcept } from '@engram/memory';

await tf.setBackend('wasm');
await tf.ready();

// From the README: a conv compressor at rate 2 and a compressive policy with 8 regular and 4 compressed slots.
const policy = createCompressivePolicy({
  memoryLength: 8,
  compressedLength: 4,
  compressor: createConvCompressor({ rate: 2, seed: 1 }),
});
policy.build({ numLayers: 2, modelDim: 16, numHeads: 2, segmentLength: 8 });
let state = policy.initialState(2);
for (let step = 0; step < 3; step++) {
  const layerInputs = [0, 1].map(() => tf.randomNormal([2, 8, 16], 0, 1, 'float32', step));
  const positions = tf.tidy(() => tf.tile(tf.range(step * 8, (step + 1) * 8, 1, 'int32').reshape([1, 8]), [2, 1]));
  const next = policy.write(state, { layerInputs, positions, contentAttention: [], training: true });
  disposeStateExcept(state, next);
  state = next;
  tf.dispose([...layerInputs, positions]);
}
const { memorySlots, perLayer } = policy.telemetry(state);
console.log('compression: slots per layer', memorySlots, 'compressed', perLayer.compressedSlots);
if (JSON.stringify(perLayer.compressedSlots) !== JSON.stringify([4, 4])) throw new Error(`expected 4 compressed slots per layer`);

// The compressor alone: 4 evicted memories at rate 2 become 2 slots.
const layer = createConvCompressor({ rate: 2, seed: 1 }).build({ modelDim: 16, layer: 0 });
const hidden = tf.randomNormal([1, 4, 16]);
const blockPositions = tf.tensor2d([[0, 1, 2, 3]], [1, 4], 'int32');
const output = layer.compress({ hidden, positions: blockPositions });
console.log('compression: compressed shape', output.hidden.shape, 'positions', Array.from(output.positions.dataSync()));
if (output.hidden.shape.join() !== '1,2,16') throw new Error('unexpected compressed shape');
tf.dispose([hidden, blockPositions, output.hidden, output.positions]);
layer.dispose();
disposeState(state);
policy.dispose();
console.log('compression: ok');
