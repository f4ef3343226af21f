// Tests of the temporal range formulas of SPEC 3 (and the span methods' reach).
import { describe, expect, it } from 'vitest';
import { InvalidMetricInputError, temporalRange } from './index.js';
import type { MemoryConfiguration } from './index.js';

describe('temporalRange', () => {
  it('is L * M for Transformer-XL memory', () => {
    expect(temporalRange({ kind: 'fifo', numLayers: 4, memoryLength: 64 })).toBe(256);
    expect(temporalRange({ kind: 'fifo', numLayers: 3, memoryLength: 0 })).toBe(0);
  });

  it('is L * (n_m + c * n_cm) for compressive memory', () => {
    // The paper's enwik8 model: 24 layers, n_m = 768, n_cm = 768, c = 3 -> 24 * 3072.
    expect(
      temporalRange({ kind: 'compressive', numLayers: 24, memoryLength: 768, compressedLength: 768, compressionRate: 3 }),
    ).toBe(73_728);
  });

  it('is L * (maximum span + ramp) for span methods', () => {
    expect(temporalRange({ kind: 'expire-span', numLayers: 2, maxSpan: 1000, ramp: 32 })).toBe(2064);
    expect(temporalRange({ kind: 'adaptive-span', numLayers: 3, maxSpan: 100, ramp: 10 })).toBe(330);
  });

  it('rejects bad configurations', () => {
    expect(() => temporalRange({ kind: 'fifo', numLayers: 0, memoryLength: 4 })).toThrow(/"numLayers"/);
    expect(() =>
      temporalRange({ kind: 'compressive', numLayers: 1, memoryLength: 4, compressedLength: 2, compressionRate: 0 }),
    ).toThrow(/"compressionRate"/);
    expect(() => temporalRange({ kind: 'lstm' } as unknown as MemoryConfiguration)).toThrow(InvalidMetricInputError);
  });
});
