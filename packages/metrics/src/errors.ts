// Error classes of @engram/metrics: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError } from '@engram/core';

/** Base class of every error thrown by @engram/metrics. */
export class MetricsError extends EngramError {
  override name = 'MetricsError';
}

/**
 * A metric was given an argument it cannot use (negative count, mismatched lengths, ...).
 * The message names the function, the parameter, what was expected, what was received, and how to fix it.
 */
export class InvalidMetricInputError extends MetricsError {
  override name = 'InvalidMetricInputError';
  /** The function or method that rejected the argument, e.g. `bitsPerToken`. */
  readonly operation: string;
  /** The parameter name, e.g. `count`. */
  readonly parameter: string;
  constructor(
    details: { operation: string; parameter: string; expected: string; actual: string; fix?: string },
    options?: { cause?: unknown },
  ) {
    const fix = details.fix === undefined ? '' : ` ${details.fix}`;
    super(
      `${details.operation}: parameter "${details.parameter}" must be ${details.expected}, got ${details.actual}.${fix}`,
      options,
    );
    this.operation = details.operation;
    this.parameter = details.parameter;
  }
}

/** A metric was read before anything was recorded (e.g. bits per token over zero tokens). */
export class EmptyMetricError extends MetricsError {
  override name = 'EmptyMetricError';
  /** The metric that has no data, e.g. `NllAccumulator.bitsPerToken`. */
  readonly metric: string;
  constructor(metric: string, fix: string, options?: { cause?: unknown }) {
    super(`${metric}: nothing has been recorded yet, so the value is undefined. ${fix}`, options);
    this.metric = metric;
  }
}
