// The README's "write your own compressor" example, run as written: conformance kit, training steps and streaming.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { disposeState } from '@engram/memory';
import { generate } from '@engram/model';
import { describe, expect, it } from 'vitest';
import { createExampleModel, createWeightedAverageCompressor } from '../examples/custom-compressor.js';
import type { CompressivePolicy } from './policy-contract.js';
import { testCompressor } from './testing/index.js';

testCompressor(() => createWeightedAverageCompressor({ rate: 2 }), { name: 'Compressor conformance: README example' });

describe('README example: a user-written compressor', () => {
  it('is quoted verbatim in the README', () => {
    const example = readFileSync(new URL('../examples/custom-compressor.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('trains in the model (attention reconstruction reaches its logits) and streams', () => {
    const baseline = tf.memory().numTensors;
    const model = createExampleModel();
    const policy = model.policy as CompressivePolicy;
    expect(model.temporalRange()).toBe(2 * (8 + 2 * 8));
    const optimizer = tf.train.adam(0.05);
    const separateOptimizer = tf.train.adam(0.05);
    const before = policy.getWeights();
    let state = model.initialState(2);
    const separateLosses: (number | null)[] = [];
    for (let step = 0; step < 6; step++) {
      const inputs = tf.tensor2d([0, 1].map((row) => [0, 1, 2, 3].map((t) => (5 * step + 3 * row + t) % 16)), undefined, 'int32');
      const targets = tf.tensor2d([0, 1].map((row) => [0, 1, 2, 3].map((t) => (5 * step + 3 * row + t + 1) % 16)), undefined, 'int32');
      const result = model.trainStep({ inputs, targets }, state, { optimizer, separateOptimizer });
      tf.dispose([inputs, targets]);
      state = result.state;
      expect(Number.isFinite(result.loss)).toBe(true);
      separateLosses.push(result.separateLoss);
    }
    // Memory of 8 regular slots with T = 4: the third write evicts 4 memories into 2 compressed slots.
    expect(separateLosses.slice(0, 2)).toEqual([null, null]);
    expect(separateLosses.slice(2).every((loss) => loss !== null && Number.isFinite(loss))).toBe(true);
    expect(policy.telemetry(state).perLayer.compressedSlots).toEqual([8, 8]);
    const after = policy.getWeights();
    for (const layer of [0, 1]) {
      const name = `compressor.layers.${layer}.logits`;
      expect(Array.from(after[name]?.dataSync() ?? [])).not.toEqual(Array.from(before[name]?.dataSync() ?? []));
    }
    tf.dispose([...Object.values(before), ...Object.values(after)]);
    disposeState(state);

    const stream = model.createStream();
    for (let token = 0; token < 14; token++) expect(stream.push(token % 16).every(Number.isFinite)).toBe(true);
    expect(policy.telemetry(stream.state).perLayer.compressedSlots).toEqual([2, 2]);
    stream.dispose();
    const continuation = generate(model, [1, 2, 3], { maxNewTokens: 10, strategy: 'greedy' });
    expect(continuation.length).toBeGreaterThanOrEqual(10);

    optimizer.dispose();
    separateOptimizer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
