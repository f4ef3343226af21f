import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@engram/kernels';
import { createAdam } from '@engram/model';
import { buildModel } from '../src/measure.js';
import { memorySettings } from '../src/suites/lm.js';
import { benchConfig } from '../src/suites/shared.js';
import { speedShapes, median } from '../src/suites/speed.js';
import { disposeState } from '@engram/memory';
await initBackend({ backend: 'wasm', threads: 1 });
const shape = speedShapes[0]!;
const kinds = (process.argv[2] ?? 'txl,adaptive-span,compressive,expire-span').split(',') as ('txl' | 'adaptive-span' | 'compressive' | 'expire-span')[];
const setups = kinds.map((kind) => {
  const config = benchConfig({ kind, model: { vocabSize: 256, modelDim: shape.modelDim, numHeads: shape.numHeads, numLayers: shape.numLayers, feedForwardDim: shape.feedForwardDim, segmentLength: shape.segmentLength, seed: 4 }, memory: memorySettings(shape.memory)[kind], training: { steps: 1, batchSize: shape.batchSize, learningRate: 1e-3, warmupSteps: 0, evalEvery: 0, clipNorm: 0.25 } });
  const model = buildModel(config, 256);
  const optimizer = createAdam({ learningRate: 1e-3 });
  const separateOptimizer = model.policy.separateVariables().length > 0 ? createAdam({ learningRate: 1e-3 }) : undefined;
  return { kind, model, optimizer, separateOptimizer, state: model.initialState(shape.batchSize) };
});
let seed = 1;
const step = (s: (typeof setups)[number]) => { const inputs = tf.randomUniform([shape.batchSize, shape.segmentLength], 0, 256, 'int32', seed++) as tf.Tensor2D; const targets = tf.randomUniform([shape.batchSize, shape.segmentLength], 0, 256, 'int32', seed++) as tf.Tensor2D; const t0 = performance.now(); const r = s.model.trainStep({ inputs, targets }, s.state, { optimizer: s.optimizer, ...(s.separateOptimizer ? { separateOptimizer: s.separateOptimizer } : {}) }, { clipNorm: 0.25 }); const dt = performance.now() - t0; s.state = r.state; tf.dispose([inputs, targets]); return dt; };
const times = new Map<string, number[]>();
for (let i = 0; i < 10; i++) for (const s of setups) { const dt = step(s); if (i >= 2) times.set(s.kind, [...(times.get(s.kind) ?? []), dt]); }
for (const s of setups) {
  const info = await tf.profile(() => { step(s); });
  const byName = new Map<string, { n: number; ms: number }>();
  for (const k of info.kernels) { if (tf.getKernel(k.name, 'wasm') === undefined) continue; const e = byName.get(k.name) ?? { n: 0, ms: 0 }; e.n++; e.ms += (await k.kernelTimeMs) as number; byName.set(k.name, e); }
  const total = [...byName.values()].reduce((a, e) => a + e.n, 0);
  const kms = [...byName.values()].reduce((a, e) => a + e.ms, 0);
  const top = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12).map(([n, e]) => `${n}:${e.n}/${e.ms.toFixed(1)}`).join(' ');
  console.log(s.kind, 'median', median(times.get(s.kind)!).toFixed(1), 'ms; dispatches', total, 'kernel ms', kms.toFixed(1), 'slots', JSON.stringify(s.model.policy.telemetry(s.state).memorySlots));
  console.log('   ', top);
  const heavy = [] as string[];
  for (const k of info.kernels) { if (tf.getKernel(k.name, 'wasm') === undefined) continue; const ms = (await k.kernelTimeMs) as number; if (ms > 1.5 && k.name !== 'BatchMatMul' && !k.name.startsWith('Engram')) heavy.push(`${k.name} ${ms.toFixed(1)} in ${JSON.stringify(k.inputShapes)} out ${JSON.stringify(k.outputShapes)}`); }
  console.log(heavy.join('\n'));
}
