// Tests of the error rate on labelled positions and of row-wise argmax.
import { describe, expect, it } from 'vitest';
import { EmptyMetricError, ErrorRateAccumulator, InvalidMetricInputError, argmaxRows, errorRate } from './index.js';

describe('error rate', () => {
  it('counts only labelled positions', () => {
    const accumulator = new ErrorRateAccumulator();
    // Positions 0-2 are prompt (unlabelled, wildly wrong), 3-6 are answers: one wrong of four.
    accumulator.add([9, 9, 9, 1, 2, 0, 4], [0, 1, 2, 1, 2, 3, 4], [0, 0, 0, 1, 1, 1, 1]);
    expect(accumulator.labelled).toBe(4);
    expect(accumulator.errors).toBe(1);
    expect(accumulator.errorRate()).toBe(0.25);
    expect(accumulator.accuracy()).toBe(0.75);
    accumulator.addCounts(3, 4);
    expect(accumulator.errorRate()).toBe(0.5);
  });

  it('treats every position as labelled without a mask', () => {
    const accumulator = new ErrorRateAccumulator();
    accumulator.add(new Int32Array([1, 2, 3]), new Int32Array([1, 0, 3]));
    expect(accumulator.errorRate()).toBeCloseTo(1 / 3, 12);
  });

  it('takes the argmax of every row, first index on ties', () => {
    expect(Array.from(argmaxRows([0.1, 0.7, 0.2, 5, 5, 1], 3))).toEqual([1, 0]);
    expect(() => argmaxRows([1, 2, 3], 2)).toThrow(InvalidMetricInputError);
  });

  it('rejects bad input', () => {
    expect(() => errorRate(1, 0)).toThrow(/"labelled"/);
    expect(() => errorRate(5, 4)).toThrow(/"errors"/);
    expect(() => new ErrorRateAccumulator().add([1], [1, 2])).toThrow(/"targets"/);
    expect(() => new ErrorRateAccumulator().add([1], [1], [1, 0])).toThrow(/"mask"/);
    expect(() => new ErrorRateAccumulator().errorRate()).toThrow(EmptyMetricError);
  });
});
