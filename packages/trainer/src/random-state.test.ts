// Tests of the model's random state in checkpoints: restored on resume, refused when missing for a model with dropout, and shown to decide the losses after a resume.
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { disposeState } from '@engram/memory';
import { ModelInputError, createAdam } from '@engram/model';
import type { MemoryTransformer } from '@engram/model';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from './checkpoint.js';
import { publishCheckpoint } from './checkpoint-store.js';
import { CheckpointMismatchError } from './errors.js';
import { restoreRandomState } from './random-state.js';
import { createTinyBatcher, createTinyModel } from './testing/fixtures.js';
import { referenceAndCrashedRuns, stepFields, temporaryFolderEachTest, trainRecordingSteps } from './testing/runs.js';
import { train } from './train.js';
import type { TrainOptions } from './train.js';

const DROPOUT = { dropout: 0.1, attentionDropout: 0.1 };

/** Copies a checkpoint to `root` (same step) with `random: null` in trainer.json, as written before models had a random state. */
async function copyWithoutRandomState(checkpoint: string, root: string, step: number): Promise<string> {
  return publishCheckpoint(root, step, async (directory) => {
    for (const entry of readdirSync(checkpoint)) {
      if (entry !== 'manifest.json') cpSync(join(checkpoint, entry), join(directory, entry), { recursive: true });
    }
    const trainerPath = join(directory, 'trainer.json');
    const document = JSON.parse(readFileSync(trainerPath, 'utf8')) as { random: unknown };
    expect(document.random).not.toBeNull();
    writeFileSync(trainerPath, JSON.stringify({ ...document, random: null }));
  });
}

describe('model random state', () => {
  const folder = temporaryFolderEachTest('engram-random-');

  it('restores the counters, and refuses a missing state (model with dropout) or one of another layer count without changing anything', () => {
    const model = createTinyModel(7, DROPOUT);
    const saved = { version: 1 as const, dropoutCalls: 12, attentionDropoutCalls: [3, 4] };
    restoreRandomState(model, JSON.parse(JSON.stringify(saved)), 'checkpoint-a');
    expect(model.getRandomState()).toEqual(saved);

    expect(() => restoreRandomState(model, null, 'checkpoint-b')).toThrow(CheckpointMismatchError);
    expect(() => restoreRandomState(model, undefined, 'checkpoint-b')).toThrow(/checkpoint-b .*no random state.*dropout 0\.1.*resume: false/);
    let error: unknown;
    try {
      restoreRandomState(model, { ...saved, attentionDropoutCalls: [1, 2, 3] }, 'checkpoint-c');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect((error as Error).message).toMatch(/checkpoint-c .*random state does not fit the model/);
    expect((error as Error).cause).toBeInstanceOf(ModelInputError);
    expect(model.getRandomState()).toEqual(saved);
    model.dispose();

    // Without dropout the counters never move, so a missing state is the fresh one.
    const plain = createTinyModel(7);
    expect(() => restoreRandomState(plain, null, 'checkpoint-d')).not.toThrow();
    expect(plain.getRandomState()).toEqual({ version: 1, dropoutCalls: 0, attentionDropoutCalls: [0, 0] });
    plain.dispose();
  });

  it('refuses to load or resume a checkpoint without random state into a model with dropout, and loads it into one without', async () => {
    const runs: { name: string; model: () => MemoryTransformer }[] = [
      { name: 'dropout', model: () => createTinyModel(7, DROPOUT) },
      { name: 'plain', model: () => createTinyModel(7) },
    ];
    const copies: Record<string, string> = {};
    for (const run of runs) {
      const model = run.model();
      await train({
        model,
        data: createTinyBatcher(),
        steps: 2,
        schedule: { learningRate: 1e-3 },
        checkpoint: { directory: join(folder(), run.name, 'checkpoints'), every: 1 },
        progress: 'none',
      });
      model.dispose();
      copies[run.name] = await copyWithoutRandomState(join(folder(), run.name, 'checkpoints', 'step-00000002'), join(folder(), `${run.name}-old`), 2);
    }

    const before = tf.memory().numTensors;
    const model = createTinyModel(7, DROPOUT);
    const optimizer = createAdam({ learningRate: 1e-3 });
    await expect(loadCheckpoint(copies.dropout as string, { model, optimizer })).rejects.toThrow(/no random state/);
    expect(model.getRandomState()).toEqual({ version: 1, dropoutCalls: 0, attentionDropoutCalls: [0, 0] });
    await expect(
      train({
        model,
        data: createTinyBatcher(),
        steps: 3,
        schedule: { learningRate: 1e-3 },
        checkpoint: { directory: join(folder(), 'dropout-old') },
        resume: true,
        progress: 'none',
      }),
    ).rejects.toThrow(CheckpointMismatchError);
    optimizer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const plain = createTinyModel(7);
    const plainOptimizer = createAdam({ learningRate: 1e-3 });
    const loaded = await loadCheckpoint(copies.plain as string, { model: plain, optimizer: plainOptimizer });
    expect(loaded.progress.step).toBe(2);
    disposeState(loaded.memoryState);
    plainOptimizer.dispose();
    plain.dispose();
  });

  it('decides the losses after a resume: restored, they equal an uninterrupted run; left unapplied, they differ', async () => {
    const before = tf.memory().numTensors;
    const options = (directory: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
      model: createTinyModel(7, DROPOUT),
      data: createTinyBatcher(),
      steps: 6,
      schedule: { learningRate: 3e-3, warmupSteps: 2 },
      checkpoint: { directory: join(directory, 'checkpoints'), every: 1 },
      progress: 'none',
      ...extra,
    });
    const fields = ['step', 'loss', 'gradientNorm'] as const;

    // A run that dies during step 4: its newest checkpoint is step 3.
    const reference = await referenceAndCrashedRuns(options, folder(), 4);
    cpSync(join(folder(), 'run'), join(folder(), 'run-unapplied'), { recursive: true });
    const saved = (JSON.parse(readFileSync(join(folder(), 'run', 'checkpoints', 'step-00000003', 'trainer.json'), 'utf8')) as {
      random: { dropoutCalls: number; attentionDropoutCalls: number[] };
    }).random;
    expect(saved.dropoutCalls).toBeGreaterThan(0);
    expect(saved.attentionDropoutCalls.every((calls) => calls > 0)).toBe(true);

    const resumed = options(join(folder(), 'run'), { resume: true });
    const { result, steps: continued } = await trainRecordingSteps(resumed);
    expect(result.resumedFromStep).toBe(3);
    resumed.model.dispose();
    expect(stepFields(continued, fields)).toEqual(stepFields(reference.slice(3), fields));

    // The same resume with setRandomState turned into a no-op on this one model instance: the weights,
    // optimizer, memory and data position are restored, the dropout counters start again from 0.
    const unapplied = options(join(folder(), 'run-unapplied'), { resume: true });
    unapplied.model.setRandomState = () => {};
    const { result: unappliedResult, steps: unappliedSteps } = await trainRecordingSteps(unapplied);
    expect(unappliedResult.resumedFromStep).toBe(3);
    unapplied.model.dispose();
    expect(unappliedSteps.map((record) => record.step)).toEqual([4, 5, 6]);
    for (const [index, record] of unappliedSteps.entries()) {
      expect(record.loss, `step ${record.step}`).not.toBe(reference[index + 3]?.loss);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
