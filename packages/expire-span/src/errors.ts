// Error classes of @engram/expire-span: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, namedError, withOptionProblem } from '@engram/core';

/** Base class of every error thrown by @engram/expire-span. */
export class ExpireSpanError extends EngramError {
  override readonly name: string = 'ExpireSpanError';
}

/**
 * An option of `createExpireSpanPolicy` is missing or out of range.
 * The message names the option, what was expected, what was received, and how to fix it.
 */
export class ExpireSpanOptionError extends namedError(withOptionProblem(ExpireSpanError, 'createExpireSpanPolicy'), 'ExpireSpanOptionError') {}

/**
 * The policy was used against its life cycle (not built, built twice, disposed) or was handed
 * a state or tensors of the wrong shape.
 */
export class ExpireSpanUsageError extends namedError(ExpireSpanError, 'ExpireSpanUsageError') {}
