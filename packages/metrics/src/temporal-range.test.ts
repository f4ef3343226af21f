// Tests of temporalRange over the policy descriptors (SPEC 3): each kind's formula, as its live policy reports it.
import { adaptiveSpanPolicyDescriptor, createAdaptiveSpanPolicy } from '@engram/adaptive-span';
import { compressivePolicyDescriptor } from '@engram/compression';
import { createExpireSpanPolicy, expireSpanPolicyDescriptor } from '@engram/expire-span';
import { createFifoPolicy, fifoPolicyDescriptor } from '@engram/memory';
import { describe, expect, it } from 'vitest';
import { InvalidMetricInputError, temporalRange } from './index.js';

describe('temporalRange', () => {
  it('is L * M for Transformer-XL memory', () => {
    expect(temporalRange(fifoPolicyDescriptor, { memoryLength: 64 }, 4)).toBe(256);
    expect(temporalRange(fifoPolicyDescriptor, { memoryLength: 0 }, 3)).toBe(0);
    expect(createFifoPolicy({ memoryLength: 64 }).temporalRange(4)).toBe(256);
  });

  it('is L * (n_m + c * n_cm) for compressive memory', () => {
    // The paper's enwik8 model: 24 layers, n_m = 768, n_cm = 768, c = 3 -> 24 * 3072.
    const options = compressivePolicyDescriptor.optionsSchema.parse({ memoryLength: 768, compressedLength: 768, compressionRate: 3 });
    expect(temporalRange(compressivePolicyDescriptor, options, 24)).toBe(73_728);
  });

  it('is L * (ceil(Lmax + R) - 1) for Expire-Span and L * S for Adaptive-Span, as the policies report', () => {
    // m > 0 needs an age below e + R < Lmax + R: the largest visible age is 1031, not 1032.
    const expire = expireSpanPolicyDescriptor.optionsSchema.parse({ maxSpan: 1000, ramp: 32 });
    expect(temporalRange(expireSpanPolicyDescriptor, expire, 2)).toBe(2062);
    expect(createExpireSpanPolicy({ maxSpan: 1000, ramp: 32 }).temporalRange(2)).toBe(2062);
    expect(temporalRange(expireSpanPolicyDescriptor, { ...expire, maxMemory: 500 }, 2)).toBe(1000);
    // Memory never holds more than S slots.
    const adaptive = adaptiveSpanPolicyDescriptor.optionsSchema.parse({ maxSpan: 100, ramp: 10 });
    expect(temporalRange(adaptiveSpanPolicyDescriptor, adaptive, 3)).toBe(300);
    expect(createAdaptiveSpanPolicy({ maxSpan: 100, ramp: 10 }).temporalRange(3)).toBe(300);
  });

  it('rejects bad inputs, naming them', () => {
    expect(() => temporalRange(fifoPolicyDescriptor, { memoryLength: 4 }, 0)).toThrow(/"numLayers"/);
    expect(() => temporalRange({ kind: 'broken', temporalRange: () => Number.NaN }, {}, 1)).toThrow(/"options"/);
    expect(() => temporalRange({ kind: 'lstm' } as never, {}, 1)).toThrow(InvalidMetricInputError);
  });
});
