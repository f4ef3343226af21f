// Tests of per-layer memory-size and span telemetry summaries.
import { describe, expect, it } from 'vitest';
import { EmptyMetricError, InvalidMetricInputError, TelemetryRecorder } from './index.js';

describe('TelemetryRecorder', () => {
  it('summarises memory size and spans per layer', () => {
    const recorder = new TelemetryRecorder({ keepHistory: true });
    recorder.record(1, { memorySlots: [4, 8], perLayer: { meanSpan: [10, 20], maxSpan: [12, 30] } });
    recorder.record(2, { memorySlots: [8, 6], perLayer: { meanSpan: [14, 10], maxSpan: [16, 22] } });
    const summary = recorder.summary();
    expect(summary.steps).toBe(2);
    expect(summary.layers).toBe(2);
    expect(summary.memorySlots).toEqual({ mean: [6, 7], min: [4, 6], max: [8, 8], last: [8, 6] });
    expect(summary.perLayer.meanSpan).toEqual({ mean: [12, 15], min: [10, 10], max: [14, 20], last: [14, 10] });
    expect(summary.perLayer.maxSpan?.max).toEqual([16, 30]);
    expect(recorder.history().map((entry) => entry.step)).toEqual([1, 2]);
  });

  it('keeps no history unless asked', () => {
    const recorder = new TelemetryRecorder();
    recorder.record(1, { memorySlots: [1], perLayer: {} });
    expect(recorder.history()).toEqual([]);
  });

  it('rejects a layer count that changes and empty summaries', () => {
    const recorder = new TelemetryRecorder();
    expect(() => recorder.summary()).toThrow(EmptyMetricError);
    recorder.record(1, { memorySlots: [1, 2], perLayer: {} });
    expect(() => recorder.record(2, { memorySlots: [1], perLayer: {} })).toThrow(InvalidMetricInputError);
    expect(() => recorder.record(2, { memorySlots: [1, 2], perLayer: { span: [1] } })).toThrow(/perLayer.span/);
    expect(() => recorder.record(2, { memorySlots: [1, Number.NaN], perLayer: {} })).toThrow(/finite/);
  });
});
