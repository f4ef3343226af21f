// The Adaptive-Span policy descriptor: kind, defaults, config-file schema, factories and temporal range in one place.
import { defineMemoryPolicyDescriptor } from '@engram/memory';
import { withoutNulls } from '@engram/memory/internal';
import { z } from 'zod';
import { ADAPTIVE_SPAN_DEFAULTS, ADAPTIVE_SPAN_KIND, adaptiveSpanTemporalRange, createAdaptiveSpanPolicy } from './policy.js';
import type { AdaptiveSpanOptions } from './policy.js';

/** The options of Adaptive-Span as a configuration file gives them. */
export const adaptiveSpanOptionsSchema = z.strictObject({
  /** S: the largest span. */
  maxSpan: z.number().int().positive(),
  /** R: length of the soft ramp. */
  ramp: z.number().int().positive(),
  /** Span loss coefficient. */
  alpha: z.number().nonnegative().default(ADAPTIVE_SPAN_DEFAULTS.alpha),
  /** Initial span as a fraction of maxSpan. */
  initFraction: z.number().min(0).max(1).default(ADAPTIVE_SPAN_DEFAULTS.initFraction),
  /** Memory slots kept beyond the largest span + ramp, so spans can grow between trims. */
  buffer: z.number().int().nonnegative().default(ADAPTIVE_SPAN_DEFAULTS.buffer),
});

/** The Adaptive-Span descriptor: what the CLI, metrics and bench read about kind `adaptive-span`. */
export const adaptiveSpanPolicyDescriptor = defineMemoryPolicyDescriptor({
  kind: ADAPTIVE_SPAN_KIND,
  description: 'Adaptive-Span: a learned span per head, soft mask, span loss, trimmed memory (SPEC 5)',
  defaults: ADAPTIVE_SPAN_DEFAULTS,
  optionsSchema: adaptiveSpanOptionsSchema,
  create: (options: z.output<typeof adaptiveSpanOptionsSchema>) =>
    createAdaptiveSpanPolicy({
      maxSpan: options.maxSpan,
      ramp: options.ramp,
      alpha: options.alpha,
      initFraction: options.initFraction,
      buffer: options.buffer,
    }),
  fromSavedConfig: (saved) => createAdaptiveSpanPolicy(withoutNulls(saved) as unknown as AdaptiveSpanOptions),
  temporalRange: adaptiveSpanTemporalRange,
});
