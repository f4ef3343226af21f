// Helpers shared by the command line's tests (not shipped): a temporary folder per test file, and the settings of a run small enough to train in a second.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A new empty folder under the system's temporary directory, named `<prefix>XXXXXX`, removed with its contents after the file's tests (`afterAll`). */
export function temporaryRoot(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return root;
}

/** The sizes of {@link tinyRunSettings}. */
export interface TinyRunSize {
  /** Model width D (default 16); the feed-forward width is 2D. */
  modelDim?: number;
  /** Segment length T (default 8). */
  segmentLength?: number;
  /** Optimizer steps (default 2). */
  steps?: number;
  /** Evaluation tokens (default 32). */
  evalTokens?: number;
}

/**
 * `path=value` settings (for `settings` or `--set`) of a tiny run: 2 heads, 2 layers, width D, feed-forward 2D,
 * segments of T, `steps` steps of 2 rows with 1 warm-up step, `evalTokens` evaluation tokens. Later settings
 * override these.
 */
export function tinyRunSettings({ modelDim = 16, segmentLength = 8, steps = 2, evalTokens = 32 }: TinyRunSize = {}): string[] {
  return [
    `model.modelDim=${modelDim}`,
    'model.numHeads=2',
    'model.numLayers=2',
    `model.feedForwardDim=${2 * modelDim}`,
    `model.segmentLength=${segmentLength}`,
    `training.steps=${steps}`,
    'training.batchSize=2',
    'training.warmupSteps=1',
    `training.evalTokens=${evalTokens}`,
  ];
}
