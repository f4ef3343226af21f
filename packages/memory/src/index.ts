// @engram/memory: the MemoryPolicy contract and memory state helpers.
export type * from './policy.js';
