// A small seeded uniform generator (Marsaglia's xorshift32) for the span noise of SPEC 4: reproducible, no global state.

/** Returns a function drawing uniform numbers in [0, 1); the same seed gives the same sequence. */
export function createUniform(seed: number): () => number {
  // Mix the seed so that small seeds (0, 1, 2, ...) start far apart; xorshift must never hold 0.
  let state = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  if (state === 0) state = 0x6a09e667;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}
