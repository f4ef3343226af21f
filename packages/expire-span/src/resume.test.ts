// Expire-Span training resumes bit-exactly: the span-noise generator's position travels with the saved memory state.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSeededRandom } from '@engram/core';
import { disposeState } from '@engram/memory';
import type { MemoryState } from '@engram/memory';
import { createModel } from '@engram/model';
import type { MemoryTransformer, ModelConfig } from '@engram/model';
import { loadMemoryState, loadModel, readModelConfig, saveMemoryState, saveModel } from '@engram/model/node';
import { congruentialTokens, segmentBatch, smallModelConfig } from '@engram/memory/testing';
import { afterEach, describe, expect, test } from 'vitest';
import { ExpireSpanUsageError } from './errors.js';
import { createExpireSpanPolicy } from './policy.js';
import type { ExpireSpanOptions, ExpireSpanPolicy } from './policy.js';

const config: ModelConfig = smallModelConfig(5, { vocabSize: 11 });
// Spans start near 0.9 * maxSpan, so the noise clamp u * maxSpan changes the mask at most draws.
const OPTIONS: ExpireSpanOptions = { maxSpan: 12, ramp: 2, alpha: 1e-3, initFraction: 0.9, noise: true, seed: 7 };
const STEPS = 8;
const ROWS = 2;

const stream = congruentialTokens(ROWS, STEPS * config.segmentLength + 1, config.vocabSize, 11);

/** A plain SGD step keeps no optimizer state, so the weights, the memory and the noise are all a resume needs. */
function trainSteps(model: MemoryTransformer, state: MemoryState, from: number, to: number, noise: number[]): MemoryState {
  const optimizer = tf.train.sgd(0.1);
  let current = state;
  for (let step = from; step < to; step++) {
    const { inputs, targets } = segmentBatch(stream, step, config.segmentLength);
    const result = model.trainStep({ inputs, targets }, current, { optimizer });
    expect(result.applied).toBe(true);
    current = result.state;
    // The generator's position after this step's draw: equal positions mean equal draws.
    const saved = model.policy.serializeState(current);
    noise.push((saved.meta.noiseGenerator as { state: number }).state);
    tf.dispose([inputs, targets, ...Object.values(saved.tensors)]);
  }
  optimizer.dispose();
  return current;
}

function weightsOf(model: MemoryTransformer): Record<string, number[]> {
  return Object.fromEntries(Object.entries(model.namedVariables()).map(([name, variable]) => [name, Array.from(variable.dataSync())]));
}

function fresh(): { model: MemoryTransformer; policy: ExpireSpanPolicy } {
  const policy = createExpireSpanPolicy(OPTIONS);
  return { model: createModel(config, { policy }), policy };
}

/** STEPS steps without interruption: the generator positions after each step and the final weights. */
function trainStraight(): { noise: number[]; weights: Record<string, number[]> } {
  const { model } = fresh();
  const noise: number[] = [];
  disposeState(trainSteps(model, model.initialState(ROWS), 0, STEPS, noise));
  const weights = weightsOf(model);
  model.dispose();
  return { noise, weights };
}

const directories: string[] = [];
afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

/** Trains STEPS / 2 steps, saves model and memory state, restores them into a fresh model and policy. */
async function trainHalfSaveRestore(
  edit: (meta: Record<string, unknown>) => void = () => {},
): Promise<{ model: MemoryTransformer; state: MemoryState; noise: number[] }> {
  const first = fresh();
  const noise: number[] = [];
  const state = trainSteps(first.model, first.model.initialState(ROWS), 0, STEPS / 2, noise);
  const directory = await mkdtemp(join(tmpdir(), 'engram-expire-span-resume-'));
  directories.push(directory);
  await saveModel(first.model, directory);
  const memoryFile = join(directory, 'memory.safetensors');
  const serialized = first.policy.serializeState(state);
  edit(serialized.meta);
  // Write the (possibly edited) state the way saveMemoryState does, through a policy that returns it.
  await saveMemoryState({ ...first.policy, serializeState: () => serialized }, state, memoryFile);
  tf.dispose(Object.values(serialized.tensors));
  disposeState(state);
  first.model.dispose();

  const saved = await readModelConfig(directory);
  const policy = createExpireSpanPolicy(saved.policy.config as unknown as ExpireSpanOptions);
  const model = await loadModel(directory, { policy });
  return { model, state: await loadMemoryState(policy, memoryFile), noise };
}

describe('Expire-Span resume', () => {
  test('N steps straight equal N/2 steps, save, restore into a fresh model, N/2 more: same noise draws, same weights', async () => {
    const { noise: straightNoise, weights: expected } = trainStraight();

    // The noise is the seed's sequence, one draw per training step.
    const reference = createSeededRandom(OPTIONS.seed as number);
    expect(straightNoise).toEqual(Array.from({ length: STEPS }, () => (reference.next(), reference.state().state)));

    const resumed = await trainHalfSaveRestore();
    disposeState(trainSteps(resumed.model, resumed.state, STEPS / 2, STEPS, resumed.noise));
    expect(resumed.noise).toEqual(straightNoise);
    expect(weightsOf(resumed.model)).toEqual(expected);
    resumed.model.dispose();
  });

  test('a state saved without the generator position (older files) still loads and restarts the noise from the seed', async () => {
    const { noise: straightNoise, weights: expected } = trainStraight();

    const resumed = await trainHalfSaveRestore((meta) => {
      delete meta.noiseGenerator;
    });
    disposeState(trainSteps(resumed.model, resumed.state, STEPS / 2, STEPS, resumed.noise));
    // The second half replays the seed's first draws: the run differs from the uninterrupted one.
    expect(resumed.noise.slice(STEPS / 2)).toEqual(straightNoise.slice(0, STEPS / 2));
    expect(weightsOf(resumed.model)).not.toEqual(expected);
    resumed.model.dispose();
  });

  test('a corrupt generator position is refused with the value and the fix, and nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const first = fresh();
    const state = first.model.initialState(ROWS);
    const serialized = first.policy.serializeState(state);
    const corrupt = { ...serialized, meta: { ...serialized.meta, noiseGenerator: { algorithm: 'xorshift32', state: -3 } } };
    const other = fresh();
    expect(() => other.policy.deserializeState(corrupt)).toThrow(ExpireSpanUsageError);
    expect(() => other.policy.deserializeState(corrupt)).toThrow(
      /meta\.noiseGenerator must be a generator state .*got \{"algorithm":"xorshift32","state":-3\}\. The saved state is corrupt/,
    );
    tf.dispose(Object.values(serialized.tensors));
    disposeState(state);
    first.model.dispose();
    other.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
