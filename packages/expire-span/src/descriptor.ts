// The Expire-Span policy descriptor: kind, defaults, config-file schema, factories and temporal range in one place.
import { defineMemoryPolicyDescriptor } from '@engram/memory';
import { withoutNulls } from '@engram/memory/internal';
import { z } from 'zod';
import { createExpireSpanPolicy, EXPIRE_SPAN_DEFAULTS, EXPIRE_SPAN_KIND, expireSpanTemporalRange } from './policy.js';
import type { ExpireSpanOptions } from './policy.js';

/** The options of Expire-Span as a configuration file gives them (the seed comes from the model). */
export const expireSpanOptionsSchema = z.strictObject({
  /** Lmax: the largest span a memory can be given. */
  maxSpan: z.number().int().positive(),
  /** R: length of the soft ramp. */
  ramp: z.number().int().positive(),
  /** Auxiliary loss coefficient. */
  alpha: z.number().nonnegative().default(EXPIRE_SPAN_DEFAULTS.alpha),
  /** Initial span as a fraction of maxSpan (bias = logit of it). */
  initFraction: z.number().gt(0).lt(1).default(EXPIRE_SPAN_DEFAULTS.initFraction),
  /** Divides the memory vector before the span predictor (64 in the small enwik8 recipe). */
  preDiv: z.number().positive().default(EXPIRE_SPAN_DEFAULTS.preDiv),
  /** Random clamping of spans during training. */
  noise: z.boolean().default(EXPIRE_SPAN_DEFAULTS.noise),
  /** Drop memories no query can see any more (false: keep them and only mask). */
  prune: z.boolean().default(EXPIRE_SPAN_DEFAULTS.prune),
  /** Hard cap on memory slots per layer after pruning (absent: no cap). */
  maxMemory: z.number().int().positive().optional(),
});

/** The Expire-Span descriptor: what the CLI, metrics and bench read about kind `expire-span`. */
export const expireSpanPolicyDescriptor = defineMemoryPolicyDescriptor({
  kind: EXPIRE_SPAN_KIND,
  description: 'Expire-Span: a learned span per memory, soft ramp mask, span loss, real pruning (SPEC 4)',
  defaults: EXPIRE_SPAN_DEFAULTS,
  optionsSchema: expireSpanOptionsSchema,
  create: (options: z.output<typeof expireSpanOptionsSchema>, context = {}) =>
    createExpireSpanPolicy({
      maxSpan: options.maxSpan,
      ramp: options.ramp,
      alpha: options.alpha,
      initFraction: options.initFraction,
      preDiv: options.preDiv,
      noise: options.noise,
      prune: options.prune,
      ...(context.seed === undefined ? {} : { seed: context.seed }),
      ...(options.maxMemory === undefined ? {} : { maxMemory: options.maxMemory }),
    }),
  fromSavedConfig: (saved) => createExpireSpanPolicy(withoutNulls(saved) as unknown as ExpireSpanOptions),
  temporalRange: expireSpanTemporalRange,
});
