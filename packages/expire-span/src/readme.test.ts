// Runs the README usage example verbatim (console.log captured), so the documented example really works.
import * as tf from '@tensorflow/tfjs';
import { disposeState } from '@engram/memory';
import { createModel, createAdam } from '@engram/model';
import { createExpireSpanPolicy } from './index.js';
import { expectNoLeak } from '@engram/kernels/testing';
import { expect, test } from 'vitest';

test('the README example trains a model with the policy and frees every tensor', () => {
  const printed: unknown[][] = [];
  const console = { log: (...values: unknown[]) => printed.push(values) };
  expectNoLeak(() => {
    const policy = createExpireSpanPolicy({ maxSpan: 64, ramp: 8, alpha: 1e-6 });
    const model = createModel(
      { vocabSize: 32, modelDim: 16, numHeads: 2, numLayers: 2, feedForwardDim: 32, segmentLength: 8, seed: 1 },
      { policy },
    );
    const optimizer = createAdam({ learningRate: 1e-3 });

    let state = model.initialState(2);
    for (let step = 0; step < 4; step++) {
      const inputs = tf.randomUniform([2, 8], 0, 32, 'int32') as tf.Tensor2D;
      const targets = tf.randomUniform([2, 8], 0, 32, 'int32') as tf.Tensor2D;
      const result = model.trainStep({ inputs, targets }, state, { optimizer });
      state = result.state;
      const { memorySlots, perLayer } = policy.telemetry(state);
      console.log(result.taskLoss, result.auxiliaryLoss, memorySlots, perLayer.meanSpan, perLayer.maxSpan);
      tf.dispose([inputs, targets]);
    }
    disposeState(state);
    optimizer.dispose();
    model.dispose();
  });
  expect(printed).toHaveLength(4);
  for (const line of printed) expect(Number.isFinite(line[0])).toBe(true);
});
