// Error classes of @engram/expire-span: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, describeValue } from '@engram/core';

/** Base class of every error thrown by @engram/expire-span. */
export class ExpireSpanError extends EngramError {
  override readonly name: string = 'ExpireSpanError';
}

/**
 * An option of `createExpireSpanPolicy` is missing or out of range.
 * The message names the option, what was expected, what was received, and how to fix it.
 */
export class ExpireSpanOptionError extends ExpireSpanError {
  override readonly name = 'ExpireSpanOptionError';
  /** The option name, e.g. `maxSpan`. */
  readonly option: string;
  constructor(
    details: { option: string; expected: string; actual: unknown; fix?: string },
    options?: { cause?: unknown },
  ) {
    const fix = details.fix === undefined ? '' : ` ${details.fix}`;
    super(
      `createExpireSpanPolicy: option "${details.option}" must be ${details.expected}, got ${describeValue(details.actual)}.${fix}`,
      options,
    );
    this.option = details.option;
  }
}

/**
 * The policy was used against its life cycle (not built, built twice, disposed) or was handed
 * a state or tensors of the wrong shape.
 */
export class ExpireSpanUsageError extends ExpireSpanError {
  override readonly name = 'ExpireSpanUsageError';
}
