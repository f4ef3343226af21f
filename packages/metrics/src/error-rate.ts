// Error rate on labelled positions only (SPEC 7, copy and collision tasks): wrong predictions / labelled positions.
import { describeValue } from '@engram/core';
import { requireInteger } from './checks.js';
import { EmptyMetricError, InvalidMetricInputError } from './errors.js';

/**
 * Error rate `errors / labelled`.
 * @param errors wrong predictions among labelled positions
 * @param labelled number of labelled positions (> 0)
 */
export function errorRate(errors: number, labelled: number): number {
  requireInteger('errorRate', 'errors', errors, '>= 0');
  requireInteger('errorRate', 'labelled', labelled, '> 0', 'Evaluate at least one labelled position.');
  if (errors > labelled) {
    throw new InvalidMetricInputError({
      operation: 'errorRate',
      parameter: 'errors',
      expected: `at most labelled (${labelled})`,
      actual: describeValue(errors),
    });
  }
  return errors / labelled;
}

/**
 * Index of the largest value of every row of a row-major matrix (first index on ties).
 * @param values `[rows * classes]` row-major, e.g. logits `[batch * time, vocab]` flattened
 * @param classes row width
 * @returns int32 `[rows]`
 */
export function argmaxRows(values: ArrayLike<number>, classes: number): Int32Array {
  if (!Number.isInteger(classes) || classes <= 0 || values.length % classes !== 0) {
    throw new InvalidMetricInputError({
      operation: 'argmaxRows',
      parameter: 'classes',
      expected: `a positive integer dividing values.length (${values.length})`,
      actual: describeValue(classes),
      fix: 'Pass the vocabulary size of the flattened logits.',
    });
  }
  const rows = values.length / classes;
  const result = new Int32Array(rows);
  for (let row = 0; row < rows; row += 1) {
    const offset = row * classes;
    let best = 0;
    let bestValue = values[offset] ?? Number.NEGATIVE_INFINITY;
    for (let column = 1; column < classes; column += 1) {
      const value = values[offset + column] ?? Number.NEGATIVE_INFINITY;
      if (value > bestValue) {
        bestValue = value;
        best = column;
      }
    }
    result[row] = best;
  }
  return result;
}

/**
 * Counts errors on labelled positions over a split. Positions whose mask is 0 (prompts,
 * distractors, padding) are ignored; positions with mask > 0 are labelled.
 */
export class ErrorRateAccumulator {
  #errors = 0;
  #labelled = 0;

  /**
   * @param predictions predicted class per position, `[positions]`
   * @param targets true class per position, `[positions]`
   * @param mask optional `[positions]`, > 0 marks a labelled position (all labelled when absent)
   */
  add(predictions: ArrayLike<number>, targets: ArrayLike<number>, mask?: ArrayLike<number>): void {
    if (predictions.length !== targets.length) {
      throw new InvalidMetricInputError({
        operation: 'ErrorRateAccumulator.add',
        parameter: 'targets',
        expected: `the same length as predictions (${predictions.length})`,
        actual: `length ${targets.length}`,
        fix: 'Flatten predictions and targets the same way ([batch * time]).',
      });
    }
    if (mask !== undefined && mask.length !== targets.length) {
      throw new InvalidMetricInputError({
        operation: 'ErrorRateAccumulator.add',
        parameter: 'mask',
        expected: `the same length as targets (${targets.length})`,
        actual: `length ${mask.length}`,
      });
    }
    for (let index = 0; index < targets.length; index += 1) {
      if (mask !== undefined && !((mask[index] ?? 0) > 0)) continue;
      this.#labelled += 1;
      if (predictions[index] !== targets[index]) this.#errors += 1;
    }
  }

  /** Adds already counted errors and labelled positions. */
  addCounts(errors: number, labelled: number): void {
    if (!Number.isInteger(errors) || !Number.isInteger(labelled) || errors < 0 || labelled < errors) {
      throw new InvalidMetricInputError({
        operation: 'ErrorRateAccumulator.addCounts',
        parameter: 'errors, labelled',
        expected: 'integers with 0 <= errors <= labelled',
        actual: `errors=${describeValue(errors)}, labelled=${describeValue(labelled)}`,
      });
    }
    this.#errors += errors;
    this.#labelled += labelled;
  }

  get errors(): number {
    return this.#errors;
  }

  get labelled(): number {
    return this.#labelled;
  }

  errorRate(): number {
    if (this.#labelled === 0) {
      throw new EmptyMetricError(
        'ErrorRateAccumulator.errorRate',
        'No labelled position was seen: check that the task mask marks the answers.',
      );
    }
    return errorRate(this.#errors, this.#labelled);
  }

  accuracy(): number {
    return 1 - this.errorRate();
  }
}
