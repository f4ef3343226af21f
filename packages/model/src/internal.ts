// @engram/model/internal: the pieces of model loading the other Engram packages reuse (the trainer's checkpoints), reachable but outside the public API (no stability promise).
export { assignWeights } from './weights.js';
export { policyConfigDifferences, validateLoadedWeights } from './load-checks.js';
export { embeddingLookup } from './layers.js';
