// Seeded pseudo-random numbers for the synthetic tasks: a Weyl sequence passed through the MurmurHash3 32-bit finaliser (a SplitMix-style generator), written here so runs repeat exactly on every platform.
import { InvalidArgumentError } from './errors.js';

const GOLDEN_RATIO_32 = 0x9e3779b9;
const TWO_TO_THE_32 = 4294967296;

/** The MurmurHash3 32-bit finaliser: a bijective mix of a uint32. */
function finalMix(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function assertSeed(parameter: string, seed: number): void {
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError(parameter, 'a safe integer', seed, 'Pass a whole number such as 0 or 1234.');
  }
}

/**
 * Combines integers into one 32-bit seed (order matters), e.g. `deriveSeed(seed, row, episode)`.
 * Each part may be any safe integer; both its low and high 32 bits are mixed in.
 */
export function deriveSeed(...parts: number[]): number {
  let hash = 0x2545f491;
  for (const [index, part] of parts.entries()) {
    assertSeed(`seed part ${index}`, part);
    const low = part >>> 0;
    const high = Math.floor(part / TWO_TO_THE_32) >>> 0;
    hash = finalMix((hash ^ low) + GOLDEN_RATIO_32);
    hash = finalMix((hash ^ high) + GOLDEN_RATIO_32);
  }
  return hash;
}

/** Serialisable state of a {@link SeededRandom}. */
export interface SeededRandomState {
  state: number;
}

// Kept apart from @engram/core's createSeededRandom (xorshift32) on purpose: their sequences differ, and switching would change every generated task episode.
/** A small, fast, seeded generator of uniform integers and floats. Not for cryptography. */
export class SeededRandom {
  private state: number;

  /** @param seed any safe integer; equal seeds give equal sequences. */
  constructor(seed: number) {
    assertSeed('seed', seed);
    this.state = deriveSeed(seed);
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + GOLDEN_RATIO_32) >>> 0;
    return finalMix(this.state);
  }

  /** A uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / TWO_TO_THE_32;
  }

  /** A uniform integer in [0, bound), without modulo bias (rejection sampling). */
  nextInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > TWO_TO_THE_32) {
      throw new InvalidArgumentError('bound', 'an integer in [1, 2^32]', bound);
    }
    const limit = TWO_TO_THE_32 - (TWO_TO_THE_32 % bound);
    let value = this.nextUint32();
    while (value >= limit) value = this.nextUint32();
    return value % bound;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new InvalidArgumentError('items', 'a non-empty array', items);
    return items[this.nextInt(items.length)] as T;
  }

  /** The generator's state, to resume it later with {@link SeededRandom.fromState}. */
  getState(): SeededRandomState {
    return { state: this.state };
  }

  /** A generator that continues exactly where the one that produced `state` stopped. */
  static fromState(saved: SeededRandomState): SeededRandom {
    if (!Number.isInteger(saved.state) || saved.state < 0 || saved.state >= TWO_TO_THE_32) {
      throw new InvalidArgumentError('state.state', 'an integer in [0, 2^32)', saved.state);
    }
    const random = new SeededRandom(0);
    random.state = saved.state;
    return random;
  }
}
