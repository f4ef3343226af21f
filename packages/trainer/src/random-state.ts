// Random state of the model (dropout streams) for checkpoints: saved and restored through the model's optional getRandomState/setRandomState.
import type { MemoryTransformer } from '@engram/model';
import { CheckpointMismatchError } from './errors.js';

/** The optional methods a model may offer to save and restore its random streams. */
interface RandomStateful {
  getRandomState?: () => unknown;
  setRandomState?: (state: unknown) => void;
}

/** Whether the model can save and restore its random state. */
export function modelHasRandomState(model: MemoryTransformer): boolean {
  const candidate = model as unknown as RandomStateful;
  return typeof candidate.getRandomState === 'function' && typeof candidate.setRandomState === 'function';
}

/** Whether the model draws random numbers while training (dropout on residual branches or attention). */
export function modelUsesRandomness(model: MemoryTransformer): boolean {
  return model.config.dropout > 0 || model.config.attentionDropout > 0;
}

/** The model's random state (JSON-safe), or null when the model does not expose one. */
export function readModelRandomState(model: MemoryTransformer): unknown {
  const candidate = model as unknown as RandomStateful;
  if (typeof candidate.getRandomState !== 'function') return null;
  return candidate.getRandomState();
}

/** Restores a random state saved by {@link readModelRandomState} (nothing to do for null). */
export function writeModelRandomState(model: MemoryTransformer, state: unknown, checkpointPath: string): void {
  if (state === null || state === undefined) return;
  const candidate = model as unknown as RandomStateful;
  if (typeof candidate.setRandomState !== 'function') {
    throw new CheckpointMismatchError(
      checkpointPath,
      'it holds a random state but this model has no setRandomState(); resume with the @engram/model version that wrote it.',
    );
  }
  candidate.setRandomState(state);
}
