// Temporal range of a memory configuration (SPEC 3): how far back, in tokens, information can travel through memory.
import { describeValue } from '@engram/core';
import { requireInteger } from './checks.js';
import { InvalidMetricInputError } from './errors.js';

/**
 * What computes a temporal range from plain settings: a memory policy descriptor (`fifoPolicyDescriptor` of
 * @engram/memory, `compressivePolicyDescriptor`, `expireSpanPolicyDescriptor`, `adaptiveSpanPolicyDescriptor`, or
 * a user's own). The descriptor's function is the one its policy's `temporalRange(numLayers)` uses, so a number
 * computed here agrees with the live policy.
 */
export interface TemporalRangeSource<Options> {
  readonly kind: string;
  temporalRange(options: Options, numLayers: number): number;
}

/**
 * Temporal range in tokens of a policy kind with `options` over `numLayers` layers, without building a model (for
 * tables and planning). The formulas live with each policy: TXL `L * M`, compressive `L * (n_m + c * n_cm)`,
 * Expire-Span `L * (ceil(Lmax + R) - 1)` (capped per layer by maxMemory), Adaptive-Span `L * S`.
 */
export function temporalRange<Options>(source: TemporalRangeSource<Options>, options: Options, numLayers: number): number {
  if (typeof source?.temporalRange !== 'function') {
    throw new InvalidMetricInputError({
      operation: 'temporalRange',
      parameter: 'source',
      expected: 'a policy descriptor with temporalRange(options, numLayers)',
      actual: describeValue(source),
      fix: 'Pass the descriptor of the policy kind, e.g. fifoPolicyDescriptor from @engram/memory.',
    });
  }
  requireInteger(`temporalRange(${source.kind})`, 'numLayers', numLayers, '>= 1');
  const range = source.temporalRange(options, numLayers);
  if (typeof range !== 'number' || !Number.isFinite(range) || range < 0) {
    throw new InvalidMetricInputError({
      operation: `temporalRange(${source.kind})`,
      parameter: 'options',
      expected: 'options for which the policy reaches a finite number of tokens >= 0',
      actual: describeValue(options),
    });
  }
  return range;
}
