// Running tensor code off the enclosing gradient tape: constants of a loss that no gradient ever reaches, and nested gradients kept to themselves.
import * as tf from '@tensorflow/tfjs';
import { CompressionError } from './errors.js';

/** The part of the tfjs 4.x engine state that decides whether kernels are recorded for a backward pass. */
interface TapeState {
  gradientDepth: number;
  activeTape: unknown;
}

function tapeState(): TapeState {
  const state = (tf.engine() as unknown as { state?: Partial<TapeState> }).state;
  if (!state || typeof state.gradientDepth !== 'number') {
    throw new CompressionError(
      `outsideTape: the tfjs engine state has no numeric gradientDepth (its keys: ${JSON.stringify(Object.keys(state ?? {}))}); ` +
        'this code is written against @tensorflow/tfjs 4.22: install the tfjs version of the workspace lockfile.',
    );
  }
  return state as TapeState;
}

/**
 * Runs `fn` as if no gradient computation were in progress: inside an enclosing `tf.grads` / `engine().gradients`
 * (the model's training step) the kernels `fn` runs are not recorded, so nothing is saved for the enclosing backward
 * pass (tfjs copies every saved input and output), no gradient reaches anything through the results, and a gradient
 * computation inside `fn` records on a tape of its own and is not itself recorded. The enclosing tape resumes
 * afterwards, also when `fn` throws. Outside any gradient computation it simply calls `fn`.
 *
 * The results are constants for the enclosing computation, like the output of a stop-gradient, at no copy.
 * @param fn any tensor code; returns what it returns (tensors follow the usual tidy rules of the caller)
 */
export function outsideTape<T>(fn: () => T): T {
  const state = tapeState();
  if (state.gradientDepth === 0) return fn();
  const { gradientDepth, activeTape } = state;
  state.gradientDepth = 0;
  state.activeTape = null;
  try {
    return fn();
  } finally {
    state.gradientDepth = gradientDepth;
    state.activeTape = activeTape;
  }
}
