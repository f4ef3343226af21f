// @engram/attention/testing: the naive reference of relative attention, for tests here and in policy packages.
export { naiveRelativeAttention } from './naive.js';
export type { NaiveAttentionResult } from './naive.js';
