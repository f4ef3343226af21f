// Error classes of @engram/metrics: each has a stable `name`, an optional `cause`, and a message naming the fix.

/** Base class of every error thrown by @engram/metrics. */
export class MetricsError extends Error {
  override name = 'MetricsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
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

/** Describes a value for an error message: its type and a short rendering. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<number>).length}`;
  return typeof value;
}
