// The statistical rules every bench claim is decided by: mean and spread over seeds, the difference of means against its standard error, and paired ratios of step times.

/** Mean, sample standard deviation and count of a list of per-seed values. */
export interface Summary {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for a single value. */
  stdDev: number;
  count: number;
}

/** How many standard errors a difference must reach to count (about 95% two-sided for a normal difference). */
export const decisiveStandardErrors = 2;

/** Mean and sample standard deviation of `values` (throws on an empty list or a non-finite value). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summarize: no values (a suite ran no seed)');
  for (const value of values) {
    if (!Number.isFinite(value)) throw new RangeError(`summarize: value ${value} is not finite (a run diverged?)`);
  }
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return { mean, stdDev: values.length > 1 ? Math.sqrt(squares / (values.length - 1)) : 0, count: values.length };
}

/** Standard error of the difference of two means: sqrt(sA^2 / nA + sB^2 / nB) (unpooled, Welch). */
export function standardErrorOfDifference(a: Summary, b: Summary): number {
  return Math.sqrt((a.stdDev * a.stdDev) / a.count + (b.stdDev * b.stdDev) / b.count);
}

/** The outcome of comparing two per-seed samples. */
export interface Comparison {
  /** `less`: a is below b by more than 2 standard errors; `greater`: above; `tie`: within. */
  direction: 'less' | 'tie' | 'greater';
  /** mean(a) - mean(b). */
  difference: number;
  standardError: number;
  /** difference / standardError (infinite when the standard error is 0 and the means differ). */
  zScore: number;
  /** Why the comparison cannot decide, when it cannot (fewer than 2 seeds on a side). */
  undecidable?: string;
  /**
   * Seeds per side that would make the observed difference reach 2 standard errors with the observed
   * spread: ceil(2 * (2 s / d)^2) with s the larger standard deviation; null when d = 0 or s = 0.
   */
  seedsNeeded: number | null;
}

/**
 * Compares per-seed values of a against b: the difference of means is decisive when it exceeds
 * {@link decisiveStandardErrors} standard errors of the difference. With fewer than 2 seeds on a
 * side there is no spread, and the comparison is a tie marked `undecidable`.
 */
export function compareSamples(a: readonly number[], b: readonly number[]): Comparison {
  const left = summarize(a);
  const right = summarize(b);
  const difference = left.mean - right.mean;
  const standardError = standardErrorOfDifference(left, right);
  const zScore = standardError > 0 ? difference / standardError : difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY;
  const spread = Math.max(left.stdDev, right.stdDev);
  const seedsNeeded =
    difference === 0 || spread === 0 ? null : Math.ceil(2 * ((decisiveStandardErrors * spread) / Math.abs(difference)) ** 2 - 1e-9);
  if (left.count < 2 || right.count < 2) {
    return { direction: 'tie', difference, standardError, zScore, undecidable: 'fewer than 2 seeds, so no spread', seedsNeeded };
  }
  const direction = zScore < -decisiveStandardErrors ? 'less' : zScore > decisiveStandardErrors ? 'greater' : 'tie';
  return { direction, difference, standardError, zScore, seedsNeeded };
}

/** Claim outcomes, as in the reports. */
export type Outcome = 'reproduced' | 'not reproduced' | 'inconclusive';

/**
 * "a is lower than b" (bpc, memory, time): reproduced when a is lower by more than 2 standard errors,
 * not reproduced when it is higher by more than 2 (or exactly equal on every seed), inconclusive otherwise.
 */
export function lowerClaim(a: readonly number[], b: readonly number[]): { outcome: Outcome; comparison: Comparison } {
  const comparison = compareSamples(a, b);
  // Exactly equal on every seed (no spread, no difference): a is not lower, and no number of seeds changes that.
  const equal = comparison.undecidable === undefined && comparison.standardError === 0 && comparison.difference === 0;
  const outcome =
    comparison.direction === 'less' ? 'reproduced' : comparison.direction === 'greater' || equal ? 'not reproduced' : 'inconclusive';
  return { outcome, comparison };
}

/**
 * "a is at least as good (as low) as b" within `tolerance`: reproduced when a - b + 2 SE <= tolerance
 * (the difference is small for sure), not reproduced when a - b - 2 SE > tolerance (a is worse by more than
 * the tolerance for sure), inconclusive otherwise (and always with fewer than 2 seeds a side).
 */
export function notWorseClaim(
  a: readonly number[],
  b: readonly number[],
  tolerance: number,
): { outcome: Outcome; comparison: Comparison } {
  const comparison = compareSamples(a, b);
  if (comparison.undecidable !== undefined) return { outcome: 'inconclusive', comparison };
  const reach = decisiveStandardErrors * comparison.standardError;
  const outcome =
    comparison.difference + reach <= tolerance ? 'reproduced' : comparison.difference - reach > tolerance ? 'not reproduced' : 'inconclusive';
  return { outcome, comparison };
}

/**
 * "difference 0.031 ± 0.012 (standard error; z = 2.6)" for claim evidence; a tie also says how many seeds
 * per side would make the difference decisive (unless `seedsHint` is false, e.g. for a non-inferiority claim).
 */
export function describeComparison(comparison: Comparison, digits = 3, options: { seedsHint?: boolean } = {}): string {
  const z = Number.isFinite(comparison.zScore) ? comparison.zScore.toFixed(1) : comparison.zScore > 0 ? '+inf' : '-inf';
  const base = `difference ${comparison.difference.toFixed(digits)} ± ${comparison.standardError.toFixed(digits)} (standard error; z = ${z})`;
  const needed =
    options.seedsHint !== false && comparison.direction === 'tie' && comparison.seedsNeeded !== null
      ? `; with this spread about ${comparison.seedsNeeded} seeds per side would make this difference decisive`
      : '';
  return comparison.undecidable === undefined ? `${base}${needed}` : `${base}; undecidable: ${comparison.undecidable}${needed}`;
}

/** "3.214 ± 0.012" (mean ± sample standard deviation; the mean alone for one seed). */
export function formatSummary(values: readonly number[], digits = 3): string {
  const summary = summarize(values);
  return summary.count > 1 ? `${summary.mean.toFixed(digits)} ± ${summary.stdDev.toFixed(digits)}` : summary.mean.toFixed(digits);
}

/**
 * Training steps at which a difference that is not yet decisive would reach 2 standard errors on the claimed
 * side, if its trend over training goes on: `points` are (step, mean(a) - mean(b)) at the evaluations; a
 * least-squares line d(t) = c + k t is fitted and solved for d = -2 SE (`side` -1: "a is lower") or
 * d = +2 SE (`side` +1), the standard error held at today's value. Returns null when the line does not move
 * toward that side (or there are fewer than 2 distinct steps); the step otherwise (never below the last step).
 */
export function stepsToDecide(
  points: readonly (readonly [number, number])[],
  standardError: number,
  side: -1 | 1 = -1,
): { steps: number | null; slope: number } {
  if (points.length < 2) return { steps: null, slope: 0 };
  const meanStep = points.reduce((sum, [step]) => sum + step, 0) / points.length;
  const meanDifference = points.reduce((sum, [, difference]) => sum + difference, 0) / points.length;
  let covariance = 0;
  let variance = 0;
  for (const [step, difference] of points) {
    covariance += (step - meanStep) * (difference - meanDifference);
    variance += (step - meanStep) ** 2;
  }
  if (variance === 0) return { steps: null, slope: 0 };
  const slope = covariance / variance;
  const intercept = meanDifference - slope * meanStep;
  const last = points[points.length - 1] as readonly [number, number];
  if (Math.sign(slope) !== side) return { steps: null, slope };
  const steps = (side * decisiveStandardErrors * standardError - intercept) / slope;
  return { steps: Math.max(last[0], Math.ceil(steps)), slope };
}

/** Paired rounds a ratio needs before it can decide anything (with fewer there is no usable spread). */
export const minimumPairedRounds = 3;

/** The ratio of two step-time series taken in the same rounds (a[i] and b[i] under the same machine load). */
export interface PairedRatio {
  /** Geometric mean of a[i] / b[i]. */
  ratio: number;
  /** exp(mean log ratio -/+ 2 standard errors): the range the rule reads. */
  low: number;
  high: number;
  rounds: number;
  /** Why the ratio cannot decide, when it cannot (fewer than {@link minimumPairedRounds} rounds). */
  undecidable?: string;
}

/**
 * Pairs a[i] with b[i] (the same round, so the same machine load), and summarises log(a[i] / b[i]) by its mean
 * and standard error: the ratio is exp(mean), its range exp(mean -/+ 2 standard errors). Pairing removes the
 * load that both steps of a round share, which unpaired medians keep.
 * @param a positive times, one per round
 * @param b positive times of the same rounds (same length)
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): PairedRatio {
  if (a.length !== b.length) throw new RangeError(`pairedRatio: ${a.length} against ${b.length} rounds; the series must come from the same rounds`);
  const logs = a.map((value, index) => {
    const other = b[index] as number;
    if (!(value > 0) || !(other > 0) || !Number.isFinite(value) || !Number.isFinite(other)) {
      throw new RangeError(`pairedRatio: round ${index} has times ${value} and ${other}; times must be positive and finite`);
    }
    return Math.log(value / other);
  });
  if (logs.length === 0) return { ratio: Number.NaN, low: Number.NaN, high: Number.NaN, rounds: 0, undecidable: 'no rounds' };
  const summary = summarize(logs);
  const reach = (decisiveStandardErrors * summary.stdDev) / Math.sqrt(summary.count);
  const result = { ratio: Math.exp(summary.mean), low: Math.exp(summary.mean - reach), high: Math.exp(summary.mean + reach), rounds: logs.length };
  return logs.length < minimumPairedRounds ? { ...result, undecidable: `${logs.length} paired round(s), fewer than ${minimumPairedRounds}` } : result;
}

/**
 * "a costs at most `target` times b": reproduced when the whole range is at or below the target, not reproduced
 * when the whole range is above it, inconclusive when the range straddles it or there are too few rounds.
 */
export function ratioAtMostClaim(a: readonly number[], b: readonly number[], target: number): { outcome: Outcome; ratio: PairedRatio } {
  const ratio = pairedRatio(a, b);
  if (ratio.undecidable !== undefined) return { outcome: 'inconclusive', ratio };
  const outcome = ratio.high <= target ? 'reproduced' : ratio.low > target ? 'not reproduced' : 'inconclusive';
  return { outcome, ratio };
}

/** "1.07x (range 1.02-1.12 over 6 paired rounds)" for claim evidence. */
export function describeRatio(ratio: PairedRatio): string {
  const base = `${ratio.ratio.toFixed(2)}x (range ${ratio.low.toFixed(2)}-${ratio.high.toFixed(2)}, geometric mean ± 2 standard errors over ${ratio.rounds} paired rounds)`;
  return ratio.undecidable === undefined ? base : `${base}; undecidable: ${ratio.undecidable}`;
}
