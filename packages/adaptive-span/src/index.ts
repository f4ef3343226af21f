// @engram/adaptive-span: the Adaptive-Span memory policy of SPEC 5 (Sukhbaatar et al. 2019) and its formulas.
export { createAdaptiveSpanPolicy } from './policy.js';
export type { AdaptiveSpanOptions, AdaptiveSpanPolicy, ResolvedAdaptiveSpanOptions } from './policy.js';
export { adaptiveSpanLoss, adaptiveSpanMask, headDistances, memoryLimit } from './spans.js';
export { AdaptiveSpanError, AdaptiveSpanOptionError, AdaptiveSpanUsageError } from './errors.js';
export { adaptiveSpanPolicyDescriptor } from './descriptor.js';
