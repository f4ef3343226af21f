// Learning-rate schedule of SPEC 7: linear warm-up, then cosine decay to a floor (the Transformer-XL recipe).
import { describeValue } from '@engram/core';
import { InvalidTrainOptionError } from './errors.js';

/** Learning-rate schedule options. */
export interface ScheduleOptions {
  /** Peak learning rate, reached at the last warm-up step. */
  learningRate: number;
  /** Steps of linear warm-up (default 0: start at the peak). */
  warmupSteps?: number;
  /**
   * Steps after which the cosine has reached its floor (default: the run's total steps). Steps
   * beyond it keep the floor.
   */
  decaySteps?: number;
  /** Floor of the cosine decay (default 0). */
  minimumLearningRate?: number;
  /** `'cosine'` (default) or `'constant'` (the peak after warm-up, no decay). */
  decay?: 'cosine' | 'constant';
}

/** A schedule with every default filled in. */
export interface ResolvedSchedule {
  learningRate: number;
  warmupSteps: number;
  decaySteps: number;
  minimumLearningRate: number;
  decay: 'cosine' | 'constant';
}

/** Fills defaults and checks a schedule; `totalSteps` is the run's length (the default `decaySteps`). */
export function resolveSchedule(schedule: ScheduleOptions, totalSteps: number): ResolvedSchedule {
  const peak = schedule?.learningRate;
  if (typeof peak !== 'number' || !Number.isFinite(peak) || peak <= 0) {
    throw new InvalidTrainOptionError({
      option: 'schedule.learningRate',
      expected: 'a finite number > 0',
      actual: describeValue(peak),
      fix: 'Pass the peak learning rate, e.g. 2.5e-4.',
    });
  }
  const warmupSteps = schedule.warmupSteps ?? 0;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new InvalidTrainOptionError({
      option: 'schedule.warmupSteps',
      expected: 'an integer >= 0',
      actual: describeValue(warmupSteps),
    });
  }
  const decaySteps = schedule.decaySteps ?? totalSteps;
  if (!Number.isInteger(decaySteps) || decaySteps < 1) {
    throw new InvalidTrainOptionError({
      option: 'schedule.decaySteps',
      expected: 'an integer >= 1',
      actual: describeValue(decaySteps),
    });
  }
  const minimumLearningRate = schedule.minimumLearningRate ?? 0;
  if (!Number.isFinite(minimumLearningRate) || minimumLearningRate < 0 || minimumLearningRate > peak) {
    throw new InvalidTrainOptionError({
      option: 'schedule.minimumLearningRate',
      expected: `a number in [0, learningRate = ${peak}]`,
      actual: describeValue(minimumLearningRate),
    });
  }
  const decay = schedule.decay ?? 'cosine';
  if (decay !== 'cosine' && decay !== 'constant') {
    throw new InvalidTrainOptionError({
      option: 'schedule.decay',
      expected: "'cosine' or 'constant'",
      actual: describeValue(decay),
    });
  }
  return { learningRate: peak, warmupSteps, decaySteps, minimumLearningRate, decay };
}

/**
 * Learning rate used by optimizer step `step` (1-based: the first update is step 1).
 *
 * - warm-up, `step <= W`: `peak * step / W` (step 1 already moves; step W uses the peak);
 * - then, with `k = step - 1 - W` updates since warm-up and `D = decaySteps`:
 *   `floor + (peak - floor) * (1 + cos(pi * min(1, k / (D - W)))) / 2`,
 *   so the first step after warm-up uses the peak and step `D + 1` onwards the floor.
 */
export function learningRateAt(step: number, schedule: ResolvedSchedule): number {
  if (!Number.isInteger(step) || step < 1) {
    throw new InvalidTrainOptionError({
      option: 'step',
      expected: 'an integer >= 1 (steps are 1-based)',
      actual: describeValue(step),
    });
  }
  const { learningRate: peak, warmupSteps, decaySteps, minimumLearningRate: floor } = schedule;
  if (step <= warmupSteps) return (peak * step) / warmupSteps;
  if (schedule.decay === 'constant') return peak;
  const decayLength = decaySteps - warmupSteps;
  if (decayLength <= 0) return peak;
  const progress = Math.min(1, (step - 1 - warmupSteps) / decayLength);
  return floor + ((peak - floor) * (1 + Math.cos(Math.PI * progress))) / 2;
}
