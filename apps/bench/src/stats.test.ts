// Tests of the claim rule: summaries against hand-computed values, decisions at and around 2 standard errors, the non-inferiority rule, too few seeds.
import { describe, expect, it } from 'vitest';
import { compareSamples, describeComparison, describeRatio, formatSummary, lowerClaim, notWorseClaim, pairedRatio, ratioAtMostClaim, stepsToDecide, summarize } from './stats.js';

describe('summarize', () => {
  it('gives the mean and the sample standard deviation', () => {
    const summary = summarize([1, 2, 3, 4]);
    expect(summary.mean).toBe(2.5);
    // sum of squares 5, n - 1 = 3
    expect(summary.stdDev).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(summarize([7]).stdDev).toBe(0);
  });

  it('refuses an empty list and non-finite values', () => {
    expect(() => summarize([])).toThrow(/no values/);
    expect(() => summarize([1, Number.NaN])).toThrow(/not finite/);
  });
});

describe('compareSamples', () => {
  it('computes the Welch standard error of the difference', () => {
    const comparison = compareSamples([1, 2, 3], [4, 6, 8]);
    expect(comparison.difference).toBe(-4);
    // variances 1 and 4, three seeds each: sqrt(1/3 + 4/3)
    expect(comparison.standardError).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(comparison.zScore).toBeCloseTo(-4 / Math.sqrt(5 / 3), 12);
    expect(comparison.direction).toBe('less');
  });

  it('is decisive only beyond 2 standard errors', () => {
    // standard deviation 1 on both sides, 2 seeds: SE = 1, so a difference of 1.9 is a tie and 2.1 is not
    const h = Math.SQRT1_2;
    expect(compareSamples([h, -h], [1.9 + h, 1.9 - h]).direction).toBe('tie');
    expect(compareSamples([h, -h], [2.1 + h, 2.1 - h]).direction).toBe('less');
    expect(compareSamples([2.1 + h, 2.1 - h], [h, -h]).direction).toBe('greater');
  });

  it('cannot decide with one seed, and says how many seeds a tie would need', () => {
    const single = compareSamples([1], [5]);
    expect(single.direction).toBe('tie');
    expect(single.undecidable).toMatch(/fewer than 2 seeds/);
    const tie = compareSamples([1, 2], [1.5, 2.5]);
    // s = 0.707, d = 0.5: ceil(2 * (2 * 0.707 / 0.5)^2) = 16
    expect(tie.seedsNeeded).toBe(16);
    expect(describeComparison(tie)).toContain('about 16 seeds per side');
    expect(describeComparison(tie, 3, { seedsHint: false })).not.toContain('seeds per side');
  });
});

describe('claims', () => {
  it('lower: reproduced, not reproduced or inconclusive by the rule', () => {
    expect(lowerClaim([1, 1.1, 0.9], [2, 2.1, 1.9]).outcome).toBe('reproduced');
    expect(lowerClaim([2, 2.1, 1.9], [1, 1.1, 0.9]).outcome).toBe('not reproduced');
    expect(lowerClaim([1, 2, 3], [1.5, 2.5, 3.5]).outcome).toBe('inconclusive');
    expect(lowerClaim([1], [2]).outcome).toBe('inconclusive');
  });

  it('not worse: needs the whole 2-SE interval under the tolerance', () => {
    expect(notWorseClaim([1.0, 1.01, 0.99], [1.0, 1.01, 0.99], 0.05).outcome).toBe('reproduced');
    expect(notWorseClaim([1.5, 1.51, 1.49], [1.0, 1.01, 0.99], 0.05).outcome).toBe('not reproduced');
    // same means but a wide spread: the interval straddles the tolerance
    expect(notWorseClaim([0.8, 1.2, 1.0], [1.0, 1.0, 1.0], 0.05).outcome).toBe('inconclusive');
    expect(notWorseClaim([1], [1], 0.05).outcome).toBe('inconclusive');
  });

  it('formats mean ± spread', () => {
    expect(formatSummary([1, 2, 3], 2)).toBe('2.00 ± 1.00');
    expect(formatSummary([1.5], 2)).toBe('1.50');
  });
});

describe('stepsToDecide', () => {
  it('extrapolates a widening gap to 2 standard errors', () => {
    // d(t) = -0.001 t: reaches -2 * 0.05 = -0.1 at t = 100.
    const result = stepsToDecide([[10, -0.01], [20, -0.02], [40, -0.04]], 0.05);
    expect(result.steps).toBe(100);
    expect(result.slope).toBeCloseTo(-0.001, 12);
  });
  it('gives no step when the gap moves the other way or there is one point', () => {
    expect(stepsToDecide([[10, -0.04], [20, -0.02], [40, -0.01]], 0.05).steps).toBeNull();
    expect(stepsToDecide([[10, -0.04]], 0.05).steps).toBeNull();
    // heading for the claimed side from the other one: d(t) = 0.02 - 0.001 t reaches -0.02 at t = 40
    expect(stepsToDecide([[10, 0.01], [20, 0]], 0.01).steps).toBe(40);
    expect(stepsToDecide([[10, 0.01], [20, 0.03]], 0.01, 1).steps).toBe(20);
  });
});

describe('lowerClaim on identical values', () => {
  it('is not reproduced when every seed is exactly equal on both sides, inconclusive with one seed', () => {
    expect(lowerClaim([64, 64, 64], [64, 64, 64]).outcome).toBe('not reproduced');
    expect(lowerClaim([64], [64]).outcome).toBe('inconclusive');
    expect(lowerClaim([63, 63], [64, 64]).outcome).toBe('reproduced');
  });
});

describe('pairedRatio', () => {
  it('is the geometric mean of the per-round ratios with a range of 2 standard errors of the mean log ratio', () => {
    const a = [110, 240, 105, 330];
    const b = [100, 200, 100, 300];
    const logs = a.map((value, index) => Math.log(value / (b[index] as number)));
    const mean = logs.reduce((sum, value) => sum + value, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (logs.length - 1));
    const ratio = pairedRatio(a, b);
    expect(ratio.ratio).toBeCloseTo(Math.exp(mean), 12);
    expect(ratio.low).toBeCloseTo(Math.exp(mean - (2 * sd) / 2), 12);
    expect(ratio.high).toBeCloseTo(Math.exp(mean + (2 * sd) / 2), 12);
    expect(ratio.rounds).toBe(4);
    expect(ratio.undecidable).toBeUndefined();
  });
  it('removes the load both steps of a round share, which medians of the unpaired times keep', () => {
    // The machine's load doubles the second half of the rounds; a is 5% dearer than b in every round.
    const b = [100, 101, 99, 200, 202, 198];
    const a = b.map((value) => value * 1.05);
    const ratio = pairedRatio(a, b);
    expect(ratio.ratio).toBeCloseTo(1.05, 12);
    expect(ratio.high - ratio.low).toBeLessThan(1e-9);
    expect(ratioAtMostClaim(a, b, 1.1).outcome).toBe('reproduced');
    expect(ratioAtMostClaim(a, b, 1.04).outcome).toBe('not reproduced');
  });
  it('is inconclusive when the range straddles the target or there are fewer than 3 rounds', () => {
    expect(ratioAtMostClaim([100, 125, 95, 130], [100, 100, 100, 100], 1.1).outcome).toBe('inconclusive');
    const two = ratioAtMostClaim([100, 100], [200, 200], 1.1);
    expect(two.outcome).toBe('inconclusive');
    expect(describeRatio(two.ratio)).toContain('undecidable: 2 paired round(s), fewer than 3');
  });
  it('names a series that is not from the same rounds or holds a time that is not positive', () => {
    expect(() => pairedRatio([1, 2, 3], [1, 2])).toThrow(/3 against 2 rounds/);
    expect(() => pairedRatio([1, 0, 3], [1, 2, 3])).toThrow(/round 1 has times 0 and 2/);
    expect(() => pairedRatio([1, Number.NaN, 3], [1, 2, 3])).toThrow(/round 1/);
  });
});
