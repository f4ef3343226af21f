// Tests of sampled peak tensor bytes (fake and real engine readers) and process memory.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { InvalidMetricInputError, MemoryTracker, processMemory } from './index.js';

describe('MemoryTracker', () => {
  it('keeps the largest sampled engine bytes', () => {
    let bytes = 100;
    const tracker = new MemoryTracker({ engine: () => ({ numBytes: bytes, numTensors: 3 }) });
    expect(tracker.sample()).toMatchObject({ tensorBytes: 100, tensorCount: 3 });
    bytes = 500;
    tracker.sample();
    bytes = 200;
    const sample = tracker.sample();
    expect(sample.tensorBytes).toBe(200);
    expect(sample.rssBytes).toBeGreaterThan(0);
    const peaks = tracker.peaks();
    expect(peaks.peakTensorBytes).toBe(500);
    expect(peaks.samples).toBe(3);
    expect(peaks.peakRssBytes).toBeGreaterThan(0);
    expect(peaks.processMaxRssBytes).toBeGreaterThanOrEqual(peaks.peakRssBytes);
    tracker.reset();
    expect(tracker.peaks()).toMatchObject({ peakTensorBytes: null, samples: 0 });
  });

  it('sees a real allocation through tf.memory()', () => {
    const tracker = new MemoryTracker({ engine: () => tf.memory() });
    const before = tracker.sample().tensorBytes ?? 0;
    const big = tf.zeros([256, 256]);
    tracker.sample();
    big.dispose();
    const after = tracker.sample().tensorBytes ?? 0;
    expect(after).toBe(before);
    expect(tracker.peaks().peakTensorBytes).toBe(before + 256 * 256 * 4);
  });

  it('reports no tensor bytes without an engine reader', () => {
    const tracker = new MemoryTracker();
    expect(tracker.sample().tensorBytes).toBeNull();
    expect(tracker.peaks().peakTensorBytes).toBeNull();
  });

  it('rejects a reader that returns no byte count', () => {
    const tracker = new MemoryTracker({ engine: () => ({}) as unknown as { numBytes: number } });
    expect(() => tracker.sample()).toThrow(InvalidMetricInputError);
    expect(() => new MemoryTracker({ engine: 3 as unknown as () => { numBytes: number } })).toThrow(/"engine"/);
  });
});

describe('processMemory', () => {
  it('reports the resident set and its operating-system peak', () => {
    const memory = processMemory();
    expect(memory.rssBytes).toBeGreaterThan(0);
    expect(memory.maxRssBytes).toBeGreaterThan(0);
    expect(memory.heapUsedBytes).toBeGreaterThan(0);
    expect(memory.externalBytes).toBeGreaterThanOrEqual(memory.arrayBuffersBytes);
  });
});
