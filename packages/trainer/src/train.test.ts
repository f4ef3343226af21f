// Tests of the training loop: learning, logs, evaluation records, checkpoints, non-finite steps, leaks.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { StreamBatcher, evaluationBatches } from '@engram/datasets';
import { batchToTensors, disposeBatchTensors } from '@engram/datasets/tensors';
import { disposeState } from '@engram/memory';
import { createAdam } from '@engram/model';
import { describe, expect, it } from 'vitest';
import { NonFiniteLossError } from './errors.js';
import { readJsonLines } from './log.js';
import { createTinyBatcher, createTinyModel, tinyTokens } from './testing/fixtures.js';
import { train } from './train.js';
import type { StepRecord } from './train.js';
import { temporaryFolderEachTest } from './testing/runs.js';

describe('train', () => {
  const folder = temporaryFolderEachTest('engram-train-');

  it('trains, logs a header and one record per step and evaluation, checkpoints, and leaks nothing', async () => {
    const model = createTinyModel();
    const before = tf.memory().numTensors;
    const logPath = join(folder(), 'log.jsonl');
    const seen: StepRecord[] = [];
    const tokens = tinyTokens();
    const result = await train({
      model,
      data: createTinyBatcher(),
      evaluation: { batches: () => evaluationBatches(tokens.subarray(0, 200), { batchSize: 2, segmentLength: 8 }), name: 'valid' },
      steps: 12,
      schedule: { learningRate: 3e-3, warmupSteps: 2 },
      evalEvery: 6,
      checkpoint: { directory: join(folder(), 'checkpoints'), every: 4, keepLast: 2 },
      log: { path: logPath },
      progress: 'none',
      datasetChecksum: 'abc',
      onStep: (record) => {
        seen.push(record);
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.step).toBe(12);
    expect(result.nonFiniteTotal).toBe(0);
    expect(result.evaluations.map((evaluation) => evaluation.step)).toEqual([6, 12]);
    expect(seen.map((record) => record.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // It learns: the last losses are below the first ones.
    const first = seen.slice(0, 3).reduce((sum, record) => sum + record.loss, 0);
    const last = seen.slice(-3).reduce((sum, record) => sum + record.loss, 0);
    expect(last).toBeLessThan(first);
    expect(seen[0]?.learningRate).toBeCloseTo(1.5e-3, 10);
    expect(seen[1]?.learningRate).toBeCloseTo(3e-3, 10);
    expect(seen.every((record) => record.applied && Number.isFinite(record.gradientNorm))).toBe(true);
    expect(seen[0]?.memorySlots).toEqual([8, 8]);

    const { records } = readJsonLines(logPath);
    expect(records[0]).toMatchObject({ type: 'header', seed: 7, resumedFromStep: null, dataset: { checksum: 'abc' } });
    expect(records[0]?.versions).toMatchObject({ tfjs: '4.22.0', backend: tf.getBackend() });
    expect(records.filter((record) => record.type === 'step')).toHaveLength(12);
    const evaluations = records.filter((record) => record.type === 'evaluation');
    expect(evaluations).toHaveLength(2);
    expect(evaluations[0]).toMatchObject({ split: 'valid', step: 6, count: 199 });
    expect(records.at(-1)).toMatchObject({ type: 'end', reason: 'completed', step: 12 });
    // Checkpoints at 4, 8, 12 plus the best evaluations (6, 12); the newest two and the best are kept.
    const kept = readdirSync(join(folder(), 'checkpoints')).sort();
    expect(kept).toContain('step-00000012');
    expect(kept).toContain('step-00000008');
    expect(kept.length).toBeLessThanOrEqual(3);
    model.dispose();
  });

  it('skips and counts a non-finite step, and stops after K in a row', async () => {
    const model = createTinyModel();
    const logPath = join(folder(), 'log.jsonl');
    const weightsAround: Record<number, Float32Array> = {};
    const embedding = model.namedVariables()['embedding.weight'] as tf.Variable;
    const seen: StepRecord[] = [];
    await expect(
      train({
        model,
        data: createTinyBatcher(),
        steps: 20,
        schedule: { learningRate: 1e-3 },
        log: { path: logPath },
        progress: 'none',
        maxNonFiniteInARow: 3,
        faultInjection: { nonFiniteLossAtSteps: [3, 6, 7, 8, 9] },
        onStep: (record) => {
          seen.push(record);
          weightsAround[record.step] = embedding.dataSync().slice() as Float32Array;
        },
      }),
    ).rejects.toThrow(NonFiniteLossError);
    // Step 3 was skipped (weights unchanged), counted, and training went on.
    const third = seen[2] as StepRecord;
    expect(third.applied).toBe(false);
    expect(third.loss).toBeNaN();
    expect(third.nonFiniteInARow).toBe(1);
    expect(weightsAround[3]).toEqual(weightsAround[2]);
    expect(seen[3]).toMatchObject({ applied: true, nonFiniteInARow: 0, nonFiniteTotal: 1 });
    expect(weightsAround[4]).not.toEqual(weightsAround[3]);
    // Steps 6, 7, 8 in a row: stopped at 8 with a clear message.
    expect(seen.at(-1)).toMatchObject({ step: 8, applied: false, nonFiniteInARow: 3, nonFiniteTotal: 4 });
    const { records } = readJsonLines(logPath);
    const end = records.at(-1);
    expect(end).toMatchObject({ type: 'end', reason: 'non-finite', step: 8 });
    expect(String(end?.message)).toMatch(/3 steps in a row/);
    expect(records.find((record) => record.step === 3 && record.type === 'step')?.loss).toBeNaN();
    model.dispose();
  });

  it('reaches the non-finite stop when an evaluation meets NaN weights before K bad steps', async () => {
    const model = createTinyModel();
    // Weights gone bad (as after a divergent update): every loss is NaN, and the evaluation of step 1 comes first.
    const embedding = model.namedVariables()['embedding.weight'] as tf.Variable;
    embedding.assign(tf.fill(embedding.shape, Number.NaN));
    const logPath = join(folder(), 'nan-eval.jsonl');
    const validation = tinyTokens().subarray(0, 65);
    const before = tf.memory().numTensors;
    const error = await train({
      model,
      data: createTinyBatcher(),
      evaluation: { batches: () => evaluationBatches(validation, { batchSize: 2, segmentLength: 8 }) },
      evalEvery: 1,
      steps: 10,
      schedule: { learningRate: 1e-3 },
      log: { path: logPath },
      checkpoint: { directory: join(folder(), 'nan-checkpoints') },
      progress: 'none',
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as NonFiniteLossError).during).toBe('evaluation');
    expect((error as NonFiniteLossError).step).toBe(1);
    expect((error as Error).message).toMatch(/stopped at step 1 with a non-finite validation loss \(NaN\)/);
    expect(readJsonLines(logPath).records.at(-1)).toMatchObject({ type: 'end', reason: 'non-finite', step: 1 });
    // No checkpoint of the bad weights was written.
    expect(existsSync(join(folder(), 'nan-checkpoints'))).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('rejects bad options with the option named', async () => {
    const model = createTinyModel();
    const base = { model, data: createTinyBatcher(), steps: 2, schedule: { learningRate: 1e-3 }, progress: 'none' as const };
    await expect(train({ ...base, steps: 0 })).rejects.toThrow(/"steps" must be an integer >= 1/);
    await expect(train({ ...base, evalEvery: 2 })).rejects.toThrow(/"evaluation"/);
    await expect(train({ ...base, resume: true })).rejects.toThrow(/"checkpoint"/);
    await expect(train({ ...base, resume: 'yes' as never })).rejects.toThrow(/"resume" must be true, false or 'if-present'/);
    await expect(train({ ...base, data: {} as never })).rejects.toThrow(/"data"/);
    await expect(train({ ...base, clipNorm: -1 })).rejects.toThrow(/"clipNorm"/);
    await expect(train({ ...base, schedule: { learningRate: -1 } })).rejects.toThrow(/schedule.learningRate/);
    await expect(train({ ...base, checkpoint: { directory: '' } })).rejects.toThrow(/checkpoint.directory/);
    await expect(
      train({ ...base, evaluation: { batches: () => [] }, bestMetric: 'errorRate' }),
    ).rejects.toThrow(/evaluation.errorRate/);
    model.dispose();
  });

  it('measures the true peak of tensor bytes inside profiled steps', async () => {
    const model = createTinyModel();
    const seen: StepRecord[] = [];
    await train({
      model,
      data: createTinyBatcher(),
      steps: 2,
      schedule: { learningRate: 1e-3 },
      progress: 'none',
      profileMemoryEvery: 2,
      onStep: (record) => void seen.push(record),
    });
    expect(seen[0]?.stepPeakTensorBytes).toBeUndefined();
    // Activations and gradients live only inside the step: its peak is far above what remains after it.
    expect(seen[1]?.stepPeakTensorBytes).toBeGreaterThan((seen[1]?.tensorBytes as number) + 10_000);
    model.dispose();
  });

  it('unrolls K segments per step in one gradient computation, never across an epoch boundary', async () => {
    const tokens = tinyTokens().subarray(0, 2 * 8 * 3 + 1); // 3 steps of [2, 8] per epoch
    const model = createTinyModel(13);
    const seen: StepRecord[] = [];
    const data = new StreamBatcher(tokens, { batchSize: 2, segmentLength: 8 });
    await train({
      model,
      data,
      steps: 3,
      segmentsPerStep: 2,
      schedule: { learningRate: 1e-3 },
      progress: 'none',
      onStep: (record) => void seen.push(record),
    });
    // Step 1: segments 0, 1; step 2: segment 2 only (3 starts the next epoch); step 3: segments 3, 4.
    expect(seen.map((record) => [record.tokens, record.epoch])).toEqual([
      [32, 0],
      [16, 0],
      [32, 1],
    ]);
    expect(data.getState()).toEqual({ step: 5 });

    // The first step equals model.trainStep on the two segments by hand.
    const reference = createTinyModel(13);
    const batcher = new StreamBatcher(tokens, { batchSize: 2, segmentLength: 8 });
    const pieces = [batchToTensors(batcher.next()), batchToTensors(batcher.next())];
    const optimizer = createAdam({ learningRate: 1e-3 });
    const state = reference.initialState(2);
    const result = reference.trainStep(
      pieces.map((piece) => ({ inputs: piece.inputs, targets: piece.targets })),
      state,
      { optimizer },
      { clipNorm: 0.25 },
    );
    expect(seen[0]?.loss).toBe(result.loss);
    expect(seen[0]?.gradientNorm).toBe(result.gradientNorm);
    pieces.forEach((piece) => disposeBatchTensors(piece));
    disposeState(result.state);
    optimizer.dispose();
    reference.dispose();
    model.dispose();
  });
});
