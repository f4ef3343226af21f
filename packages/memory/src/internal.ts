// @engram/memory/internal: helpers the memory packages share among themselves, reachable but outside the public API (no stability promise).
export { withoutNulls } from './descriptor.js';
