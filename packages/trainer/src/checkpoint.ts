// Training checkpoints: weights, optimizer state, memory state, data position, random state and step, written atomically with checksums; resume from the newest valid one.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BatcherState } from '@engram/datasets';
import type { MemoryState } from '@engram/memory';
import { WEIGHTS_FILE } from '@engram/model';
import { assignWeights, validateLoadedWeights } from '@engram/model/internal';
import { loadMemoryState, readSafetensors, saveMemoryState, saveModel, writeSafetensors } from '@engram/model/node';
import type { MemoryTransformer, RandomState } from '@engram/model';
import { listCheckpoints, publishCheckpoint, verifyCheckpoint } from './checkpoint-store.js';
import type { CheckpointManifest } from './checkpoint-store.js';
import { CheckpointMismatchError, CorruptCheckpointError } from './errors.js';
import { captureOptimizerState, restoreOptimizerState } from './optimizer-state.js';
import type { OptimizerSnapshotMeta } from './optimizer-state.js';
import { captureRandomState, restoreRandomState } from './random-state.js';

/** Files inside a checkpoint directory (besides `manifest.json`). */
export const CHECKPOINT_FILES = {
  /** `saveModel` output: `model/model.safetensors` and `model/config.json`. */
  model: 'model',
  optimizer: 'optimizer.safetensors',
  memory: 'memory.safetensors',
  trainer: 'trainer.json',
} as const;

/** Counters and positions of a run, saved in `trainer.json`. */
export interface TrainingProgress {
  /** Optimizer steps completed (skipped non-finite steps included). */
  step: number;
  /** Position of the training batches (`source.getState()`), restored with `setState`. */
  data: BatcherState;
  /** Best validation metric so far (lower is better) and the step it was reached at. */
  bestMetric: number | null;
  bestStep: number | null;
  /** Non-finite steps in a row at the end of `step`, and over the run. */
  nonFiniteInARow: number;
  nonFiniteTotal: number;
}

/** The content of `trainer.json`. */
export interface TrainerCheckpointDocument {
  format: 'engram-trainer-state';
  formatVersion: 1;
  progress: TrainingProgress;
  optimizers: { main: OptimizerSnapshotMeta; separate: OptimizerSnapshotMeta | null };
  /**
   * The model's random state (`model.getRandomState()`: the counters of its residual and attention
   * dropout streams), restored with `setRandomState` so a resumed run draws the same dropout masks.
   * `null` only in checkpoints written before the model had one (refused on load when the model uses dropout).
   */
  random: RandomState | null;
  /** JSON-safe description of the run (options, versions), for the record. */
  run: Record<string, unknown>;
}

/** What {@link saveCheckpoint} writes. */
export interface SaveCheckpointOptions {
  /** Root directory of the run's checkpoints; the checkpoint goes to `step-XXXXXXXX/` inside it. */
  directory: string;
  model: MemoryTransformer;
  optimizer: tf.Optimizer;
  /** The policy's own optimizer, when it has separate variables. */
  separateOptimizer?: tf.Optimizer | null;
  /** Training memory after the step (not consumed). */
  memoryState: MemoryState;
  progress: TrainingProgress;
  run?: Record<string, unknown>;
}

/**
 * Writes a checkpoint of the run at `progress.step` atomically (see `publishCheckpoint`):
 * `model/` (saveModel), `optimizer.safetensors` (main and separate optimizer state, including
 * Adam's running beta powers), `memory.safetensors` (policy.serializeState), `trainer.json`
 * (step, data position, random state, counters, run description) and, last, `manifest.json`.
 * @returns the checkpoint directory
 */
export async function saveCheckpoint(options: SaveCheckpointOptions): Promise<string> {
  const { model, optimizer, memoryState, progress } = options;
  const separate = options.separateOptimizer ?? null;
  return publishCheckpoint(options.directory, progress.step, async (directory) => {
    await saveModel(model, join(directory, CHECKPOINT_FILES.model));
    const main = await captureOptimizerState(optimizer, 'main');
    const second = separate === null ? null : await captureOptimizerState(separate, 'separate');
    try {
      await writeSafetensors(join(directory, CHECKPOINT_FILES.optimizer), { ...main.tensors, ...(second?.tensors ?? {}) });
    } finally {
      tf.dispose([...Object.values(main.tensors), ...Object.values(second?.tensors ?? {})]);
    }
    await saveMemoryState(model.policy, memoryState, join(directory, CHECKPOINT_FILES.memory));
    const document: TrainerCheckpointDocument = {
      format: 'engram-trainer-state',
      formatVersion: 1,
      progress,
      optimizers: { main: main.meta, separate: second?.meta ?? null },
      random: captureRandomState(model),
      run: options.run ?? {},
    };
    await writeFile(join(directory, CHECKPOINT_FILES.trainer), `${JSON.stringify(document, null, 2)}\n`);
  });
}

/** What {@link loadCheckpoint} restores into. */
export interface LoadCheckpointOptions {
  /** The model to load the weights into (same config and policy as the saved one). */
  model: MemoryTransformer;
  /** A freshly created optimizer of the saved class (its moments and counters are restored). */
  optimizer: tf.Optimizer;
  /** A freshly created separate optimizer, when the run uses one. */
  separateOptimizer?: tf.Optimizer | null;
}

/** A restored checkpoint. */
export interface LoadedCheckpoint {
  path: string;
  manifest: CheckpointManifest;
  progress: TrainingProgress;
  /** The training memory (owned by the caller). */
  memoryState: MemoryState;
  /** The saved run description. */
  run: Record<string, unknown>;
}

function isTrainerDocument(value: unknown): value is TrainerCheckpointDocument {
  const document = value as Partial<TrainerCheckpointDocument> | null;
  return (
    typeof document === 'object' &&
    document !== null &&
    document.format === 'engram-trainer-state' &&
    document.formatVersion === 1 &&
    typeof document.progress?.step === 'number' &&
    typeof document.optimizers?.main === 'object'
  );
}

/**
 * Verifies a checkpoint's checksums, then restores it: weights into `model`, optimizer state into
 * the fresh optimizers, the model's random state (dropout counters), and returns the memory state and progress.
 * Throws {@link CorruptCheckpointError} for a damaged checkpoint and
 * {@link CheckpointMismatchError} when it does not fit the model or optimizers, or when it holds no random
 * state (written before models had one) while the model uses dropout.
 */
export async function loadCheckpoint(path: string, options: LoadCheckpointOptions): Promise<LoadedCheckpoint> {
  const manifest = await verifyCheckpoint(path);
  let document: unknown;
  try {
    document = JSON.parse(await readFile(join(path, CHECKPOINT_FILES.trainer), 'utf8'));
  } catch (cause) {
    throw new CorruptCheckpointError(path, `${CHECKPOINT_FILES.trainer} cannot be read`, { cause });
  }
  if (!isTrainerDocument(document)) {
    throw new CorruptCheckpointError(path, `${CHECKPOINT_FILES.trainer} is not an engram-trainer-state document of format version 1`);
  }
  if (document.progress.step !== manifest.step) {
    throw new CorruptCheckpointError(path, `trainer.json is for step ${document.progress.step}, the manifest for step ${manifest.step}`);
  }
  const separate = options.separateOptimizer ?? null;
  if ((document.optimizers.separate === null) !== (separate === null)) {
    throw new CheckpointMismatchError(
      path,
      document.optimizers.separate === null
        ? 'it has no separate optimizer state but the run has a separate optimizer (the policy changed?)'
        : 'it has separate optimizer state but the run has no separate optimizer (the policy changed?)',
    );
  }

  // First, before anything is changed: a checkpoint without the random state of a model with dropout is refused.
  restoreRandomState(options.model, document.random, path);
  const weights = await readSafetensors(join(path, CHECKPOINT_FILES.model, WEIGHTS_FILE));
  try {
    try {
      validateLoadedWeights(weights.tensors, join(path, CHECKPOINT_FILES.model, WEIGHTS_FILE));
    } catch (cause) {
      throw new CorruptCheckpointError(path, (cause as Error).message, { cause });
    }
    try {
      assignWeights(options.model, weights.tensors);
    } catch (cause) {
      throw new CheckpointMismatchError(path, (cause as Error).message, { cause });
    }
  } finally {
    tf.dispose(Object.values(weights.tensors));
  }

  const optimizerFile = await readSafetensors(join(path, CHECKPOINT_FILES.optimizer));
  try {
    await restoreOptimizerState(options.optimizer, { tensors: optimizerFile.tensors, meta: document.optimizers.main }, 'main', path);
    if (separate !== null && document.optimizers.separate !== null) {
      await restoreOptimizerState(separate, { tensors: optimizerFile.tensors, meta: document.optimizers.separate }, 'separate', path);
    }
  } finally {
    tf.dispose(Object.values(optimizerFile.tensors));
  }

  let memoryState: MemoryState;
  try {
    memoryState = await loadMemoryState(options.model.policy, join(path, CHECKPOINT_FILES.memory));
  } catch (cause) {
    throw new CheckpointMismatchError(path, `the memory state cannot be restored: ${(cause as Error).message}`, { cause });
  }
  return { path, manifest, progress: document.progress, memoryState, run: document.run };
}

/** Outcome of {@link findResumableCheckpoint}. */
export interface ResumeCandidate {
  /** The newest valid checkpoint, or null when there is none. */
  path: string | null;
  step: number | null;
  /** Newer checkpoints that were skipped, with the reason (report them to the user). */
  skipped: { path: string; step: number; problem: string }[];
}

/**
 * The newest checkpoint under `directory` whose manifest and checksums are valid; newer ones that
 * are incomplete or corrupt are listed in `skipped` (the caller warns about them).
 */
export async function findResumableCheckpoint(directory: string): Promise<ResumeCandidate> {
  const entries = await listCheckpoints(directory, { verify: true });
  const skipped: ResumeCandidate['skipped'] = [];
  for (let index = entries.length - 1; index >= 0; index -= 1) {
    const entry = entries[index];
    if (entry === undefined) continue;
    if (entry.valid === true) return { path: entry.path, step: entry.step, skipped };
    skipped.push({ path: entry.path, step: entry.step, problem: entry.problem ?? 'invalid' });
  }
  return { path: null, step: null, skipped };
}
