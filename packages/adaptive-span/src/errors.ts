// Error classes of @engram/adaptive-span: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, namedError, withOptionProblem } from '@engram/core';

/** Base class of every error thrown by @engram/adaptive-span. */
export class AdaptiveSpanError extends EngramError {
  override readonly name: string = 'AdaptiveSpanError';
}

/**
 * An option of `createAdaptiveSpanPolicy` is missing or out of range.
 * The message names the option, what was expected, what was received, and how to fix it.
 */
export class AdaptiveSpanOptionError extends namedError(withOptionProblem(AdaptiveSpanError, 'createAdaptiveSpanPolicy'), 'AdaptiveSpanOptionError') {}

/**
 * The policy was used against its life cycle (not built, built twice, disposed) or was handed
 * a state or tensors of the wrong shape.
 */
export class AdaptiveSpanUsageError extends namedError(AdaptiveSpanError, 'AdaptiveSpanUsageError') {}
