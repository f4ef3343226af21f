// Error classes of @engram/metrics: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, namedError, withParameterProblem } from '@engram/core';

/** Base class of every error thrown by @engram/metrics. */
export class MetricsError extends EngramError {
  override name = 'MetricsError';
}

/**
 * A metric was given an argument it cannot use (negative count, mismatched lengths, ...).
 * The message names the function, the parameter, what was expected, what was received, and how to fix it.
 */
export class InvalidMetricInputError extends namedError(withParameterProblem(MetricsError), 'InvalidMetricInputError') {}

/** A metric was read before anything was recorded (e.g. bits per token over zero tokens). */
export class EmptyMetricError extends namedError(MetricsError, 'EmptyMetricError') {
  /** The metric that has no data, e.g. `NllAccumulator.bitsPerToken`. */
  readonly metric: string;
  constructor(metric: string, fix: string, options?: { cause?: unknown }) {
    super(`${metric}: nothing has been recorded yet, so the value is undefined. ${fix}`, options);
    this.metric = metric;
  }
}
