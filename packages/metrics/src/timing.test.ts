// Tests of the stopwatch and throughput meter with a fake clock (no assertion on real time).
import { describe, expect, it } from 'vitest';
import { EmptyMetricError, InvalidMetricInputError, Stopwatch, ThroughputMeter, monotonicSeconds } from './index.js';

describe('Stopwatch', () => {
  it('accumulates laps of an injected clock', () => {
    let now = 10;
    const watch = new Stopwatch({ clock: () => now });
    now = 12.5;
    expect(watch.elapsedSeconds()).toBe(2.5);
    expect(watch.stop()).toBe(2.5);
    now = 100;
    expect(watch.elapsedSeconds()).toBe(2.5);
    expect(watch.running).toBe(false);
    watch.start();
    now = 101;
    expect(watch.stop()).toBe(3.5);
    watch.restart();
    now = 103;
    expect(watch.elapsedSeconds()).toBe(2);
  });

  it('reads a monotonic clock by default', () => {
    const first = monotonicSeconds();
    const second = monotonicSeconds();
    expect(second).toBeGreaterThanOrEqual(first);
    const watch = new Stopwatch();
    expect(watch.elapsedSeconds()).toBeGreaterThanOrEqual(0);
  });
});

describe('ThroughputMeter', () => {
  it('divides total tokens by total seconds after the warm-up batches', () => {
    const meter = new ThroughputMeter({ warmupBatches: 1 });
    meter.record(100, 10); // warm-up, left out
    expect(meter.lastTokensPerSecond()).toBe(10);
    meter.record(100, 1);
    meter.record(300, 2);
    meter.record(200, 4);
    const summary = meter.summary();
    expect(summary.batches).toBe(3);
    expect(summary.tokens).toBe(600);
    expect(summary.seconds).toBe(7);
    expect(summary.tokensPerSecond).toBeCloseTo(600 / 7, 12);
    expect(summary.meanSecondsPerBatch).toBeCloseTo(7 / 3, 12);
    expect(summary.medianSecondsPerBatch).toBe(2);
    expect(summary.maxSecondsPerBatch).toBe(4);
    expect(meter.lastSecondsPerBatch()).toBe(4);
  });

  it('takes the mean of the two middle batches for an even count', () => {
    const meter = new ThroughputMeter();
    for (const seconds of [1, 4, 2, 3]) meter.record(10, seconds);
    expect(meter.summary().medianSecondsPerBatch).toBe(2.5);
  });

  it('rejects bad input and empty summaries', () => {
    expect(() => new ThroughputMeter({ warmupBatches: -1 })).toThrow(InvalidMetricInputError);
    expect(() => new ThroughputMeter().record(-1, 1)).toThrow(/"tokens"/);
    expect(() => new ThroughputMeter().record(1, Number.NaN)).toThrow(/"seconds"/);
    const meter = new ThroughputMeter({ warmupBatches: 1 });
    meter.record(1, 1);
    expect(() => meter.summary()).toThrow(EmptyMetricError);
  });
});
