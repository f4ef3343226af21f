// @engram/attention: relative-position multi-head attention over [memory; current segment] (SPEC 2.2).
export { AttentionConfigError, AttentionError, AttentionInputError } from './errors.js';
export type { AttentionErrorOptions } from './errors.js';
export { createRandom, hashSeed, seededNormal, stableVariableName, uniqueScope } from './init.js';
export { createPositionBiases, createRelativeAttention, RelativeAttention } from './relative-attention.js';
export type {
  AttentionInput,
  AttentionRandomState,
  AttentionOutput,
  BoundContentAttention,
  PositionBiases,
  PositionBiasesOptions,
  RelativeAttentionOptions,
} from './relative-attention.js';
