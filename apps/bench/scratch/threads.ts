import * as tf from '@tensorflow/tfjs';
import { initBackend, setFastKernelThreads, fastKernelThreads, fastKernelThreadStats } from '@engram/kernels';
import { createAdam } from '@engram/model';
import { buildModel } from '../src/measure.js';
import { memorySettings } from '../src/suites/lm.js';
import { benchConfig } from '../src/suites/shared.js';
import { speedShapes, median } from '../src/suites/speed.js';
import { disposeState } from '@engram/memory';
await initBackend({ backend: 'wasm' });
const which = process.argv[2] ?? 'tiny';
const n = Number(process.argv[3] ?? 8);
const minFlops = Number(process.argv[4] ?? 2e6);
const shape = speedShapes.find((s) => s.name === which)!;
const config = benchConfig({ kind: 'txl', model: { vocabSize: 256, modelDim: shape.modelDim, numHeads: shape.numHeads, numLayers: shape.numLayers, feedForwardDim: shape.feedForwardDim, segmentLength: shape.segmentLength, seed: 4 }, memory: memorySettings(shape.memory).txl, training: { steps: 1, batchSize: shape.batchSize, learningRate: 1e-3, warmupSteps: 0, evalEvery: 0, clipNorm: 0.25 } });
const model = buildModel(config, 256);
const optimizer = createAdam({ learningRate: 1e-3 });
let state = model.initialState(shape.batchSize);
let seed = 1;
const step = () => { const inputs = tf.randomUniform([shape.batchSize, shape.segmentLength], 0, 256, 'int32', seed++) as tf.Tensor2D; const targets = tf.randomUniform([shape.batchSize, shape.segmentLength], 0, 256, 'int32', seed++) as tf.Tensor2D; const t0 = performance.now(); const r = model.trainStep({ inputs, targets }, state, { optimizer }, { clipNorm: 0.25 }); const dt = performance.now() - t0; state = r.state; tf.dispose([inputs, targets]); return dt; };
const times: Record<number, number[]> = { 1: [], 2: [] };
const cpu: Record<number, number[]> = { 1: [], 2: [] };
for (let i = 0; i < n + 2; i++) for (const t of [1, 2]) {
  await setFastKernelThreads(t, { minFlops });
  step();
  const c0 = process.cpuUsage();
  const dt = step();
  const c = process.cpuUsage(c0);
  if (i >= 2) { times[t].push(dt); cpu[t].push((c.user + c.system) / 1000); }
}
await setFastKernelThreads(2, { minFlops }); step(); console.log('stats', JSON.stringify(fastKernelThreadStats()));
console.log(which, 'minFlops', minFlops, 't1', median(times[1]).toFixed(1), 'ms cpu', median(cpu[1]).toFixed(0), 't2', median(times[2]).toFixed(1), 'ms cpu', median(cpu[2]).toFixed(0), 'ratio', (median(times[1]) / median(times[2])).toFixed(3));
await setFastKernelThreads(1); disposeState(state); model.dispose(); optimizer.dispose();
