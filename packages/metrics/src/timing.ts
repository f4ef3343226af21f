// Wall-clock timing: a stopwatch, time per batch and throughput in tokens per second.
import { requireFiniteNonNegative, requireInteger } from './checks.js';
import { EmptyMetricError } from './errors.js';

/** A monotonic clock in seconds. The default reads `process.hrtime.bigint()`. */
export type Clock = () => number;

/** Monotonic seconds from `process.hrtime.bigint()` (nanosecond resolution, not affected by clock changes). */
export const monotonicSeconds: Clock = () => Number(process.hrtime.bigint()) / 1e9;

/** Measures elapsed wall time. Starts running when created unless `{ running: false }`. */
export class Stopwatch {
  readonly #clock: Clock;
  #startedAt: number | null = null;
  #accumulated = 0;

  constructor(options: { clock?: Clock; running?: boolean } = {}) {
    this.#clock = options.clock ?? monotonicSeconds;
    if (options.running ?? true) this.start();
  }

  /** Starts (or resumes) timing; no effect while running. */
  start(): void {
    if (this.#startedAt === null) this.#startedAt = this.#clock();
  }

  /** Stops timing and returns the total elapsed seconds. */
  stop(): number {
    if (this.#startedAt !== null) {
      this.#accumulated += this.#clock() - this.#startedAt;
      this.#startedAt = null;
    }
    return this.#accumulated;
  }

  /** Sets the elapsed time to 0 and starts again. */
  restart(): void {
    this.#accumulated = 0;
    this.#startedAt = this.#clock();
  }

  get running(): boolean {
    return this.#startedAt !== null;
  }

  /** Elapsed seconds so far (including the running lap). */
  elapsedSeconds(): number {
    const running = this.#startedAt === null ? 0 : this.#clock() - this.#startedAt;
    return this.#accumulated + running;
  }
}

/** Summary of a {@link ThroughputMeter}. */
export interface ThroughputSummary {
  /** Batches counted (after the warm-up batches). */
  batches: number;
  /** Tokens of the counted batches. */
  tokens: number;
  /** Seconds of the counted batches. */
  seconds: number;
  /** `tokens / seconds` over the counted batches. */
  tokensPerSecond: number;
  /** `seconds / batches`. */
  meanSecondsPerBatch: number;
  /** Median seconds per batch (robust to a slow first batch or a GC pause). */
  medianSecondsPerBatch: number;
  /** Slowest counted batch. */
  maxSecondsPerBatch: number;
}

/**
 * Time per batch and throughput. Throughput is total tokens over total seconds of the counted
 * batches. The first `warmupBatches` batches (kernel compilation, allocation) are recorded as
 * `last*` values but left out of the totals.
 */
export class ThroughputMeter {
  readonly #warmupBatches: number;
  #seen = 0;
  #tokens = 0;
  #seconds = 0;
  readonly #batchSeconds: number[] = [];
  #lastTokens = 0;
  #lastSeconds = 0;

  constructor(options: { warmupBatches?: number } = {}) {
    const warmup = options.warmupBatches ?? 0;
    requireInteger('ThroughputMeter', 'warmupBatches', warmup, '>= 0');
    this.#warmupBatches = warmup;
  }

  /**
   * Records one batch.
   * @param tokens tokens processed by the batch (batch rows x segment length)
   * @param seconds wall time of the batch
   */
  record(tokens: number, seconds: number): void {
    requireFiniteNonNegative('ThroughputMeter.record', 'tokens', tokens);
    requireFiniteNonNegative('ThroughputMeter.record', 'seconds', seconds);
    this.#seen += 1;
    this.#lastTokens = tokens;
    this.#lastSeconds = seconds;
    if (this.#seen <= this.#warmupBatches) return;
    this.#tokens += tokens;
    this.#seconds += seconds;
    this.#batchSeconds.push(seconds);
  }

  /** Tokens per second of the last recorded batch (0 when it took no measurable time). */
  lastTokensPerSecond(): number {
    return this.#lastSeconds > 0 ? this.#lastTokens / this.#lastSeconds : 0;
  }

  /** Seconds of the last recorded batch. */
  lastSecondsPerBatch(): number {
    return this.#lastSeconds;
  }

  /** Totals over the counted batches. */
  summary(): ThroughputSummary {
    const batches = this.#batchSeconds.length;
    if (batches === 0) {
      throw new EmptyMetricError(
        'ThroughputMeter.summary',
        `Record more than warmupBatches (${this.#warmupBatches}) batches first.`,
      );
    }
    const sorted = [...this.#batchSeconds].sort((a, b) => a - b);
    const middle = Math.floor(batches / 2);
    const median = batches % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
    return {
      batches,
      tokens: this.#tokens,
      seconds: this.#seconds,
      tokensPerSecond: this.#seconds > 0 ? this.#tokens / this.#seconds : 0,
      meanSecondsPerBatch: this.#seconds / batches,
      medianSecondsPerBatch: median,
      maxSecondsPerBatch: sorted[batches - 1] ?? 0,
    };
  }
}
