// Vitest helpers shared by the trainer's tests: a fresh temporary folder per test, runs recorded step by step, and the reference and crashed runs of a resume test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { train } from '../train.js';
import type { StepRecord, TrainOptions, TrainResult } from '../train.js';

/**
 * Registers `beforeEach` / `afterEach` hooks (call it inside a `describe` or at the top level) that give each test
 * a new empty folder under the system's temporary directory, named `<prefix>XXXXXX`, removed with its contents
 * after the test. Returns the current test's folder.
 */
export function temporaryFolderEachTest(prefix: string): () => string {
  let folder: string | undefined;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(() => {
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
    folder = undefined;
  });
  return () => {
    if (folder === undefined) throw new Error('temporaryFolderEachTest: the folder exists only while a test runs (call it inside a test).');
    return folder;
  };
}

/** Thrown from `onStep` by {@link trainUntilCrash}: a run that dies at that step. */
export class SimulatedCrash extends Error {}

/** Trains `options` to the end and returns `train`'s result with every step's record (`options.onStep`, if any, still runs first). */
export async function trainRecordingSteps(options: TrainOptions): Promise<{ result: TrainResult; steps: StepRecord[] }> {
  const steps: StepRecord[] = [];
  const result = await train({
    ...options,
    onStep: async (record) => {
      await options.onStep?.(record);
      steps.push(record);
    },
  });
  return { result, steps };
}

/**
 * Trains `options` and crashes when step `crashAt` has been recorded (before that step's checkpoint is written),
 * expecting `train` to reject with the crash (`options.onStep`, if any, still runs first).
 */
async function trainUntilCrash(options: TrainOptions, crashAt: number): Promise<void> {
  await expect(
    train({
      ...options,
      onStep: async (record) => {
        await options.onStep?.(record);
        if (record.step === crashAt) throw new SimulatedCrash(`simulated crash at step ${crashAt}`);
      },
    }),
  ).rejects.toThrow(SimulatedCrash);
}

/**
 * The two runs a resume test compares with, each trained with a fresh `options(directory)` and then handed to `release`
 * (default: dispose its model): an uninterrupted run in `<folder>/reference`, whose step records are returned, and a
 * run in `<folder>/run` that crashes at step `crashAt` (its newest checkpoint is then one written before that step).
 */
export async function referenceAndCrashedRuns(
  options: (directory: string) => TrainOptions,
  folder: string,
  crashAt: number,
  release: (used: TrainOptions) => void = (used) => used.model.dispose(),
): Promise<StepRecord[]> {
  const uninterrupted = options(join(folder, 'reference'));
  const { steps } = await trainRecordingSteps(uninterrupted);
  release(uninterrupted);
  const interrupted = options(join(folder, 'run'));
  await trainUntilCrash(interrupted, crashAt);
  release(interrupted);
  return steps;
}

/** The fields `fields` of every record, step by step: what two runs are compared by. */
export function stepFields<Field extends keyof StepRecord>(records: readonly StepRecord[], fields: readonly Field[]): StepRecord[Field][][] {
  return records.map((record) => fields.map((field) => record[field]));
}
