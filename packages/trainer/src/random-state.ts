// Random state of the model (the counters of its residual and attention dropout streams) for checkpoints: saved with model.getRandomState(), restored with model.setRandomState().
import type { MemoryTransformer, RandomState } from '@engram/model';
import { CheckpointMismatchError } from './errors.js';

/** Whether the model draws random numbers while training (dropout on residual branches or attention probabilities). */
export function modelUsesRandomness(model: MemoryTransformer): boolean {
  return model.config.dropout > 0 || model.config.attentionDropout > 0;
}

/** The model's random state as saved in `trainer.json` (JSON-safe). */
export function captureRandomState(model: MemoryTransformer): RandomState {
  return model.getRandomState();
}

/**
 * Restores the random state saved in a checkpoint, so the resumed run draws the same dropout masks as
 * an uninterrupted one. `saved` is `null` in checkpoints written before models had a random state:
 * accepted for a model without dropout (its counters never move, so a fresh model's are the right
 * ones), refused with {@link CheckpointMismatchError} for a model with dropout, whose masks could not
 * be replayed. A state that does not fit the model (e.g. another layer count) is refused too.
 * Nothing is changed when it throws.
 */
export function restoreRandomState(model: MemoryTransformer, saved: unknown, checkpointPath: string): void {
  if (saved === null || saved === undefined) {
    if (!modelUsesRandomness(model)) return;
    throw new CheckpointMismatchError(
      checkpointPath,
      `it holds no random state (trainer.json "random" is ${String(saved)}; it was written before the model exposed getRandomState()) but the model uses dropout ${model.config.dropout} and attention dropout ${model.config.attentionDropout}, so a resumed run could not draw the same dropout masks as an uninterrupted one. Start a fresh run (resume: false, or another checkpoint directory).`,
    );
  }
  try {
    model.setRandomState(saved as RandomState);
  } catch (cause) {
    throw new CheckpointMismatchError(checkpointPath, `its random state does not fit the model: ${(cause as Error).message}`, { cause });
  }
}
