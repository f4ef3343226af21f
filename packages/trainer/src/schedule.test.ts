// Tests of the warm-up + cosine learning-rate schedule against the formula written out by hand.
import { describe, expect, it } from 'vitest';
import { InvalidTrainOptionError } from './errors.js';
import { learningRateAt, resolveSchedule } from './schedule.js';

describe('learning-rate schedule', () => {
  it('warms up linearly, then decays along a cosine to the floor', () => {
    const schedule = resolveSchedule({ learningRate: 1e-3, warmupSteps: 4, minimumLearningRate: 1e-4 }, 12);
    expect(schedule).toEqual({ learningRate: 1e-3, warmupSteps: 4, decaySteps: 12, minimumLearningRate: 1e-4, decay: 'cosine' });
    expect(learningRateAt(1, schedule)).toBeCloseTo(0.25e-3, 15);
    expect(learningRateAt(2, schedule)).toBeCloseTo(0.5e-3, 15);
    expect(learningRateAt(4, schedule)).toBeCloseTo(1e-3, 15);
    // First step after warm-up uses the peak; the cosine then covers decaySteps - warmupSteps = 8 steps.
    expect(learningRateAt(5, schedule)).toBeCloseTo(1e-3, 15);
    expect(learningRateAt(9, schedule)).toBeCloseTo(1e-4 + 0.9e-3 * 0.5, 15); // k = 4 of 8: cos(pi/2) = 0
    expect(learningRateAt(7, schedule)).toBeCloseTo(1e-4 + (0.9e-3 * (1 + Math.cos(Math.PI / 4))) / 2, 15);
    expect(learningRateAt(13, schedule)).toBeCloseTo(1e-4, 15);
    expect(learningRateAt(50, schedule)).toBeCloseTo(1e-4, 15);
    for (let step = 5; step < 13; step += 1) {
      expect(learningRateAt(step + 1, schedule)).toBeLessThan(learningRateAt(step, schedule));
    }
  });

  it('starts at the peak without warm-up and can stay constant', () => {
    const cosine = resolveSchedule({ learningRate: 0.01 }, 10);
    expect(learningRateAt(1, cosine)).toBe(0.01);
    const constant = resolveSchedule({ learningRate: 0.01, warmupSteps: 2, decay: 'constant' }, 10);
    expect(learningRateAt(1, constant)).toBe(0.005);
    expect(learningRateAt(9, constant)).toBe(0.01);
  });

  it('rejects bad options with the option named', () => {
    expect(() => resolveSchedule({ learningRate: 0 }, 10)).toThrow(InvalidTrainOptionError);
    expect(() => resolveSchedule({ learningRate: 0 }, 10)).toThrow(/schedule.learningRate/);
    expect(() => resolveSchedule({ learningRate: 1, warmupSteps: -1 }, 10)).toThrow(/schedule.warmupSteps/);
    expect(() => resolveSchedule({ learningRate: 1, minimumLearningRate: 2 }, 10)).toThrow(/minimumLearningRate/);
    expect(() => learningRateAt(0, resolveSchedule({ learningRate: 1 }, 10))).toThrow(/1-based/);
  });
});
