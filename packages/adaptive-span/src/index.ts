// @engram/adaptive-span: the Adaptive-Span memory policy of SPEC 5 (Sukhbaatar et al. 2019) and its formulas.
export { ADAPTIVE_SPAN_KIND, adaptiveSpanTemporalRange, createAdaptiveSpanPolicy } from './policy.js';
export type { AdaptiveSpanOptions, AdaptiveSpanPolicy, ResolvedAdaptiveSpanOptions } from './policy.js';
export { adaptiveSpanLoss, adaptiveSpanMask, headDistances, memoryLimit } from './spans.js';
export { AdaptiveSpanError, AdaptiveSpanOptionError, AdaptiveSpanUsageError } from './errors.js';
export { ADAPTIVE_SPAN_DEFAULTS } from './policy.js';
export { adaptiveSpanOptionsSchema, adaptiveSpanPolicyDescriptor } from './descriptor.js';
