// @engram/expire-span: the Expire-Span memory policy of SPEC 4 (Sukhbaatar et al. 2021) and its formulas.
export { createExpireSpanPolicy } from './policy.js';
export type { ExpireSpanOptions, ExpireSpanPolicy, ResolvedExpireSpanOptions, SpanPredictor } from './policy.js';
export { expireSpanAuxiliaryLoss, expireSpanMask, planPruning, predictSpans, queryKeyDistances } from './spans.js';
export type { ExpireSpanMask, PruningInput, PruningPlan } from './spans.js';
export { ExpireSpanError, ExpireSpanOptionError, ExpireSpanUsageError } from './errors.js';
export { expireSpanPolicyDescriptor } from './descriptor.js';
