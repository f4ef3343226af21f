// Tests of training checkpoints: a full round trip, and resume falling back past corrupt or truncated newest checkpoints with a warning.
import { existsSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { batchToTensors, disposeBatchTensors } from '@engram/datasets/tensors';
import { disposeState, stateTensors } from '@engram/memory';
import { createAdam } from '@engram/model';
import { describe, expect, it } from 'vitest';
import { findResumableCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { CheckpointMismatchError, CorruptCheckpointError, NothingToResumeError } from './errors.js';
import { readTrainingLog } from './log.js';
import { createTinyBatcher, createTinyModel, createTinyProbeModel } from './testing/fixtures.js';
import { referenceAndCrashedRuns, stepFields, temporaryFolderEachTest, trainRecordingSteps } from './testing/runs.js';
import { train } from './train.js';
import type { TrainOptions } from './train.js';

describe('checkpoints', () => {
  const folder = temporaryFolderEachTest('engram-checkpoint-');

  it('round-trips weights, optimizer state, memory state and progress', async () => {
    const model = createTinyModel(1);
    const batcher = createTinyBatcher();
    const optimizer = createAdam({ learningRate: 1e-3 });
    let state = model.initialState(2);
    for (let step = 0; step < 3; step += 1) {
      const tensors = batchToTensors(batcher.next());
      const result = model.trainStep({ inputs: tensors.inputs, targets: tensors.targets }, state, { optimizer });
      disposeBatchTensors(tensors);
      state = result.state;
    }
    const progress = { step: 3, data: batcher.getState(), bestMetric: 1.5, bestStep: 2, nonFiniteInARow: 0, nonFiniteTotal: 1 };
    const path = await saveCheckpoint({ directory: folder(), model, optimizer, memoryState: state, progress, run: { note: 'x' } });
    expect(path).toBe(join(folder(), 'step-00000003'));
    expect(readdirSync(path).sort()).toEqual(['manifest.json', 'memory.safetensors', 'model', 'optimizer.safetensors', 'trainer.json']);

    const restoredModel = createTinyModel(99); // different initial weights
    const restoredOptimizer = createAdam({ learningRate: 1e-3 });
    const before = tf.memory().numTensors;
    const loaded = await loadCheckpoint(path, { model: restoredModel, optimizer: restoredOptimizer });
    expect(loaded.progress).toEqual(progress);
    expect(loaded.run).toEqual({ note: 'x' });
    for (const [name, variable] of Object.entries(model.namedVariables())) {
      expect(Array.from(restoredModel.namedVariables()[name]?.dataSync() ?? []), name).toEqual(Array.from(variable.dataSync()));
    }
    expect(restoredOptimizer.iterations).toBe(3);
    const originalTensors = stateTensors(state).map((tensor) => Array.from(tensor.dataSync()));
    expect(stateTensors(loaded.memoryState).map((tensor) => Array.from(tensor.dataSync()))).toEqual(originalTensors);
    expect(loaded.memoryState.tokensSeen).toBe(state.tokensSeen);
    // What the load created: the memory state and the optimizer's moments (2 per variable).
    const created = tf.memory().numTensors - before;
    expect(created).toBe(stateTensors(loaded.memoryState).length + 2 * model.trainableVariables().length);

    // A checkpoint of another shape is refused.
    const otherOptimizer = createAdam({ learningRate: 1e-3 });
    const extraOptimizer = createAdam({ learningRate: 1 });
    await expect(loadCheckpoint(path, { model: restoredModel, optimizer: otherOptimizer, separateOptimizer: extraOptimizer })).rejects.toThrow(
      CheckpointMismatchError,
    );
    disposeState(state);
    disposeState(loaded.memoryState);
    [optimizer, restoredOptimizer, otherOptimizer, extraOptimizer].forEach((item) => item.dispose());
    model.dispose();
    restoredModel.dispose();
  });

  it('resumes from the newest valid checkpoint, skipping corrupt and truncated newer ones with a warning', async () => {
    const options = (directory: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
      model: createTinyModel(),
      data: createTinyBatcher(),
      steps: 9,
      schedule: { learningRate: 3e-3, warmupSteps: 2 },
      checkpoint: { directory: join(directory, 'checkpoints'), every: 1, keepLast: 10 },
      log: { path: join(directory, 'log.jsonl') },
      progress: 'none',
      ...extra,
    });
    // A run that dies after step 6 (its checkpoint of step 6 is never written).
    const reference = await referenceAndCrashedRuns(options, folder(), 6);
    const checkpoints = join(folder(), 'run', 'checkpoints');
    expect(readdirSync(checkpoints).sort().at(-1)).toBe('step-00000005');
    // Newest (5): a weight file cut short. Next (4): one byte of the optimizer state changed.
    const weights = join(checkpoints, 'step-00000005', 'model', 'model.safetensors');
    truncateSync(weights, readFileSync(weights).length - 10);
    const optimizerFile = join(checkpoints, 'step-00000004', 'optimizer.safetensors');
    const bytes = readFileSync(optimizerFile);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    writeFileSync(optimizerFile, bytes);
    const probeModel = createTinyModel();
    const probeOptimizer = createAdam({ learningRate: 1 });
    await expect(loadCheckpoint(join(checkpoints, 'step-00000005'), { model: probeModel, optimizer: probeOptimizer })).rejects.toThrow(
      CorruptCheckpointError,
    );
    probeModel.dispose();
    probeOptimizer.dispose();
    const candidate = await findResumableCheckpoint(checkpoints);
    expect(candidate.step).toBe(3);
    expect(candidate.skipped.map((entry) => entry.step)).toEqual([5, 4]);

    const warnings: string[] = [];
    const resumed = options(join(folder(), 'run'), { resume: true, onWarning: (message) => warnings.push(message) });
    const { result, steps: resumedSteps } = await trainRecordingSteps(resumed);
    resumed.model.dispose();
    expect(result.resumedFromStep).toBe(3);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/step 5 .* skipped: .*model\/model\.safetensors has \d+ bytes.*truncated/);
    expect(warnings[1]).toMatch(/step 4 .* skipped: .*optimizer\.safetensors has SHA-256/);
    expect(resumedSteps.map((record) => record.step)).toEqual([4, 5, 6, 7, 8, 9]);
    const fields = ['step', 'loss', 'gradientNorm'] as const;
    expect(stepFields(resumedSteps, fields)).toEqual(stepFields(reference.slice(3), fields));

    const log = readTrainingLog(join(folder(), 'run', 'log.jsonl'));
    expect(log.headers.map((header) => header.resumedFromStep)).toEqual([null, 3]);
    expect(log.warnings).toHaveLength(2);
    expect(log.steps.map((record) => [record.step, record.loss])).toEqual(reference.map((record) => [record.step, record.loss]));
    // The corrupt checkpoints were replaced by good ones as training passed their steps.
    expect((await findResumableCheckpoint(checkpoints)).skipped).toEqual([]);
  });

  it("resumes a policy's separate optimizer exactly", async () => {
    const options = (directory: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
      model: createTinyProbeModel(),
      data: createTinyBatcher(),
      steps: 6,
      schedule: { learningRate: 1e-2, warmupSteps: 1 },
      checkpoint: { directory: join(directory, 'checkpoints'), every: 1 },
      progress: 'none',
      ...extra,
    });
    const release = (used: TrainOptions): void => {
      used.model.policy.dispose();
      used.model.dispose();
    };
    const reference = await referenceAndCrashedRuns(options, folder(), 4, release);
    expect(reference.every((record) => typeof record.separateLoss === 'number')).toBe(true);
    // The separate loss falls: the probe is being trained by its own optimizer.
    expect(reference.at(-1)?.separateLoss as number).toBeLessThan(reference[0]?.separateLoss as number);

    const resumed = options(join(folder(), 'run'), { resume: true });
    const { result, steps: continued } = await trainRecordingSteps(resumed);
    expect(result.resumedFromStep).toBe(3);
    const fields = ['step', 'loss', 'separateLoss'] as const;
    expect(stepFields(continued, fields)).toEqual(stepFields(reference.slice(3), fields));
    release(resumed);
  });

  it('refuses to resume when there is nothing to resume, and writes nothing', async () => {
    const model = createTinyModel();
    const base = {
      model,
      data: createTinyBatcher(),
      steps: 2,
      schedule: { learningRate: 1e-3 },
      log: { path: join(folder(), 'empty-run', 'log.jsonl') },
      progress: 'none' as const,
    };
    const empty = join(folder(), 'empty-run', 'checkpoints');
    const error = await train({ ...base, checkpoint: { directory: empty }, resume: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NothingToResumeError);
    expect((error as Error).message).toMatch(/cannot resume: .*empty-run\/checkpoints holds no checkpoint\. Start a fresh run/);
    expect(existsSync(join(folder(), 'empty-run'))).toBe(false);

    // Only unusable checkpoints: refused even with 'if-present', the files stay as they were.
    const broken = join(folder(), 'broken-run');
    mkdirSync(join(broken, 'checkpoints', 'step-00000004'), { recursive: true });
    writeFileSync(join(broken, 'log.jsonl'), '{"type":"header"}\n');
    const unusable = await train({
      ...base,
      log: { path: join(broken, 'log.jsonl') },
      checkpoint: { directory: join(broken, 'checkpoints') },
      resume: 'if-present',
    }).catch((caught: unknown) => caught);
    expect(unusable).toBeInstanceOf(NothingToResumeError);
    expect((unusable as NothingToResumeError).skipped.map((entry) => entry.step)).toEqual([4]);
    expect((unusable as Error).message).toMatch(/no usable checkpoint \(step 4: .*manifest\.json is missing/);
    expect(readFileSync(join(broken, 'log.jsonl'), 'utf8')).toBe('{"type":"header"}\n');
    expect(readdirSync(join(broken, 'checkpoints'))).toEqual(['step-00000004']);

    // 'if-present' with no checkpoint at all starts from step 0.
    const result = await train({ ...base, checkpoint: { directory: empty }, resume: 'if-present' });
    expect(result.resumedFromStep).toBeNull();
    expect(result.step).toBe(2);
    expect(readdirSync(empty)).toEqual(['step-00000002']);
    model.dispose();
  });
});
