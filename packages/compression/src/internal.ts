// @engram/compression/internal: helpers the package uses itself, kept reachable but outside the public API (no stability promise).
export { checkRate, checkSeed } from './compressor-checks.js';
export { assignWeights } from './define-compressor.js';
