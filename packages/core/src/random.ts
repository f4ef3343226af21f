// A seeded uniform generator (Marsaglia's xorshift32) whose position can be saved and restored, so a resumed run draws the same numbers as an uninterrupted one.
import { describeValue } from './describe-value.js';
import { EngramError } from './errors.js';

/** The saved position of a {@link SeededRandom}: JSON-safe, written into checkpoints. */
export interface SeededRandomState {
  /** The generator the state belongs to (only `xorshift32` today). */
  readonly algorithm: 'xorshift32';
  /** The 32-bit word the next draw starts from: an integer in [1, 2^32 - 1]. */
  readonly state: number;
}

/** A reproducible source of uniform numbers; the same seed gives the same sequence on every platform. */
export interface SeededRandom {
  /** The seed it was created with (as an unsigned 32-bit integer). */
  readonly seed: number;
  /** The next number, uniform in [0, 1) with 2^-32 resolution. */
  next(): number;
  /** Where the generator is now; `restore(state())` later continues from exactly here. */
  state(): SeededRandomState;
  /** Moves the generator to a position saved by {@link SeededRandom.state}; throws {@link SeededRandomStateError} on anything else. */
  restore(saved: SeededRandomState): void;
}

/** A value handed to {@link SeededRandom.restore} is not a saved generator state. */
export class SeededRandomStateError extends EngramError {
  override readonly name = 'SeededRandomStateError';
}

/** The first word of the sequence of `seed`: the seed mixed so that small seeds start far apart, never 0. */
function initialWord(seed: number): number {
  const word = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return word === 0 ? 0x6a09e667 : word;
}

/**
 * Creates a seeded generator. `seed` is any number, taken modulo 2^32 (`-1` and `4294967295` are the
 * same seed). The sequence of a seed is fixed: Expire-Span's span noise and cached benchmark runs rely on it.
 */
export function createSeededRandom(seed: number): SeededRandom {
  const unsignedSeed = seed >>> 0;
  let word = initialWord(seed);
  return {
    seed: unsignedSeed,
    next(): number {
      word ^= word << 13;
      word >>>= 0;
      word ^= word >>> 17;
      word ^= word << 5;
      word >>>= 0;
      return word / 4294967296;
    },
    state: (): SeededRandomState => ({ algorithm: 'xorshift32', state: word }),
    restore(saved: SeededRandomState): void {
      const candidate = saved as unknown as { algorithm?: unknown; state?: unknown } | null;
      const value = candidate?.state;
      if (
        typeof candidate !== 'object' ||
        candidate === null ||
        candidate.algorithm !== 'xorshift32' ||
        typeof value !== 'number' ||
        !Number.isInteger(value) ||
        value < 1 ||
        value > 0xffffffff
      ) {
        throw new SeededRandomStateError(
          `SeededRandom.restore: expected { algorithm: "xorshift32", state: an integer in [1, 4294967295] }, got ${describeValue(saved)}. Pass a value returned by state().`,
        );
      }
      word = value;
    },
  };
}
