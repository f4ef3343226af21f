// The argument checks the metrics share (a finite number >= 0 or > 0, an integer with a lower bound), each failing with an InvalidMetricInputError that names the operation and parameter.
import { describeValue } from '@engram/core';
import { InvalidMetricInputError } from './errors.js';

/** Throws unless `value` is a finite number >= 0: `<operation>: parameter "<parameter>" must be a finite number >= 0, got <value>. <fix>` */
export function requireFiniteNonNegative(operation: string, parameter: string, value: number, fix?: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidMetricInputError({ operation, parameter, expected: 'a finite number >= 0', actual: describeValue(value), fix });
  }
}

/** Throws unless `value` is a finite number > 0: `... must be a finite number > 0, got <value>. <fix>` */
export function requirePositiveCount(operation: string, parameter: string, value: number, fix?: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidMetricInputError({ operation, parameter, expected: 'a finite number > 0', actual: describeValue(value), fix });
  }
}

/** The lower bounds {@link requireInteger} checks, as its message states them. */
export type IntegerBound = '>= 0' | '> 0' | '>= 1';

/** Throws unless `value` is an integer within `bound`: `... must be an integer <bound>, got <value>. <fix>` */
export function requireInteger(operation: string, parameter: string, value: number, bound: IntegerBound, fix?: string): void {
  const within = bound === '>= 0' ? value >= 0 : bound === '> 0' ? value > 0 : value >= 1;
  if (!Number.isInteger(value) || !within) {
    throw new InvalidMetricInputError({ operation, parameter, expected: `an integer ${bound}`, actual: describeValue(value), fix });
  }
}
