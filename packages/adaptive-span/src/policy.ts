// The Adaptive-Span MemoryPolicy (SPEC 5, Sukhbaatar et al. 2019): a learned span per head, soft mask, span loss, trimming.
import * as tf from '@tensorflow/tfjs';
import { checkOptionsOfKind, describeValue, finiteNumberOption } from '@engram/core';
import { defineMemoryPolicy } from '@engram/memory';
import type {
  AttentionModulation,
  LayerMemory,
  MemoryPolicy,
  MemoryState,
  ModulationContext,
  PolicyKit,
  PolicyTelemetry,
} from '@engram/memory';
import { AdaptiveSpanOptionError, AdaptiveSpanUsageError } from './errors.js';
import { adaptiveSpanLoss, adaptiveSpanMask, headDistances, memoryLimit } from './spans.js';

/** The policy's kind, also written into saved configs and states. */
export const ADAPTIVE_SPAN_KIND = 'adaptive-span';

/** Defaults of the optional options (SPEC 5, the official enwik8 recipe; read by the descriptor's schema too). */
export const ADAPTIVE_SPAN_DEFAULTS = Object.freeze({ alpha: 5e-7, initFraction: 0, buffer: 64 });

/** Options of {@link createAdaptiveSpanPolicy}. */
export interface AdaptiveSpanOptions {
  /** S: the largest span, in tokens; also the largest memory a layer keeps (integer >= 1). */
  maxSpan: number;
  /** R: length of the linear ramp of the mask, in tokens (> 0). */
  ramp: number;
  /** Weight of the span loss `alpha * S * mean(z / S)` (default 5e-7, the official enwik8 recipe). */
  alpha?: number;
  /** Initial span ratio `z / S` of every head, in [0, 1] (default 0, as the official code). */
  initFraction?: number;
  /** Extra memory slots kept beyond `ceil(z_max + R)` so spans can grow between trims (integer >= 0, default 64). */
  buffer?: number;
  /** Accepted so that `createAdaptiveSpanPolicy(policy.config())` works; must be `'adaptive-span'` when given. */
  kind?: string;
}

/** The resolved options, as returned by `config()` (without `kind`). */
export interface ResolvedAdaptiveSpanOptions {
  maxSpan: number;
  ramp: number;
  alpha: number;
  initFraction: number;
  buffer: number;
}

/** What the Adaptive-Span policy adds to the {@link MemoryPolicy} contract. */
interface AdaptiveSpanExtension {
  readonly options: Readonly<ResolvedAdaptiveSpanOptions>;
  /** The span ratios `z_h / S` of layer `layer`, a variable `[heads]` (after `build`). */
  spanRatios(layer: number): tf.Variable<tf.Rank.R1>;
  /** Current spans in tokens `z_h = S * ratio_h`, per layer and head (reads the variables). */
  spans(): number[][];
  /** Memory slots layer `layer` keeps after the next write, `min(S, ceil(z_max + R) + buffer)`. */
  memoryLimit(layer: number): number;
}

/** The Adaptive-Span policy: a {@link MemoryPolicy} plus access to its learned spans. */
export interface AdaptiveSpanPolicy extends MemoryPolicy, AdaptiveSpanExtension {
  readonly kind: typeof ADAPTIVE_SPAN_KIND;
}

/**
 * Creates the Adaptive-Span memory policy of SPEC 5, the baseline Expire-Span is compared with. Use it like
 * the FIFO policy: `createModel(config, { policy: createAdaptiveSpanPolicy({ maxSpan: 512, ramp: 32 }) })`.
 *
 * Every head of every layer learns a span `z_h` in [0, S] (stored as a ratio, clamped after each optimizer
 * step); attention is multiplied by `clamp((R + z_h - x) / R, 0, 1)` at distance x and renormalised; the span
 * loss pulls spans down; memory is a FIFO trimmed to what the largest span can still see, so compute falls
 * with the spans.
 */
export function createAdaptiveSpanPolicy(options: AdaptiveSpanOptions): AdaptiveSpanPolicy {
  const resolved = resolveOptions(options);
  const { maxSpan, ramp, alpha, initFraction, buffer } = resolved;
  let ratios: tf.Variable<tf.Rank.R1>[] = [];

  const ratiosOf = (kit: PolicyKit, layer: number, method: string): tf.Variable<tf.Rank.R1> =>
    ratios[kit.checkLayer(layer, method)] as tf.Variable<tf.Rank.R1>;

  const limitOf = (kit: PolicyKit, layer: number, method: string): number => {
    const largest = Math.max(...(ratiosOf(kit, layer, method).dataSync() as Float32Array));
    return memoryLimit(largest, maxSpan, ramp, buffer);
  };

  const spansOf = (kit: PolicyKit): number[][] => {
    kit.dimensions('spans');
    return ratios.map((variable) => Array.from(variable.dataSync(), (ratio) => ratio * maxSpan));
  };

  return defineMemoryPolicy<AdaptiveSpanExtension>({
    kind: ADAPTIVE_SPAN_KIND,
    factory: 'createAdaptiveSpanPolicy',
    fixedDimensions: ['numHeads'],
    error: (message) => new AdaptiveSpanUsageError(message),

    build({ dimensions, variable }): void {
      // Stable names: the model saves them as `policy.layers.<l>.spanRatio`.
      ratios = Array.from({ length: dimensions.numLayers }, (_, layer) =>
        variable(`layers.${layer}.spanRatio`, tf.fill([dimensions.numHeads], initFraction) as tf.Tensor1D),
      );
    },

    // A trimmed FIFO: the default read (the memory always ends right before the current segment).

    modulate(context: ModulationContext, kit: PolicyKit): AttentionModulation {
      const { layer, keyPositions, queryPositions } = context;
      const variable = ratiosOf(kit, layer, 'modulate');
      kit.checkModulation(context, 'modulate');
      return tf.tidy(() => {
        // Every row of this memory holds the same positions (a trimmed FIFO over one stream clock), so row 0's
        // distances serve the batch: the mask is [1, H, T, K] and attention broadcasts it (a batch-th of the work).
        const firstRow = (positions: tf.Tensor2D) => tf.slice(positions, [0, 0], [1, -1]) as tf.Tensor2D;
        const distances = headDistances(firstRow(queryPositions), firstRow(keyPositions));
        return {
          softMask: adaptiveSpanMask(variable, distances, maxSpan, ramp),
          auxiliaryLoss: adaptiveSpanLoss(variable, alpha, maxSpan),
        };
      });
    },

    memoryLength: (_record, layer, kit) => limitOf(kit, layer, 'write'),

    afterOptimizerStep(): void {
      for (const variable of ratios) {
        tf.tidy(() => variable.assign(tf.clipByValue(variable, 0, 1)));
      }
    },

    temporalRange: (numLayers: number) => adaptiveSpanTemporalRange(resolved, numLayers),

    telemetry(state: MemoryState, kit: PolicyKit): PolicyTelemetry {
      const spans = spansOf(kit);
      return {
        memorySlots: state.layers.map((memory) => memory.hidden?.shape[1] ?? 0),
        perLayer: {
          meanSpan: spans.map((layer) => layer.reduce((sum, value) => sum + value, 0) / layer.length),
          maxSpan: spans.map((layer) => Math.max(...layer)),
          memoryLimit: spans.map((_, layer) => limitOf(kit, layer, 'telemetry')),
        },
      };
    },

    config: () => ({ maxSpan, ramp, alpha, initFraction, buffer }),

    checkRestoredLayer(memory: LayerMemory, _layer: number, state: MemoryState): string | null {
      if (!memory.hidden || !memory.positions) return null;
      // A trimmed FIFO holds `tokensSeen - slots .. tokensSeen - 1` in every row.
      const slots = memory.positions.shape[1];
      const data = memory.positions.dataSync();
      const trimmed = !Array.from(data).some((value, index) => value !== state.tokensSeen - slots + (index % slots));
      return trimmed
        ? null
        : 'is not a trimmed FIFO memory (positions must be the last slots before tokensSeen in every row)';
    },

    extend: (kit: PolicyKit): AdaptiveSpanExtension => ({
      options: Object.freeze({ ...resolved }),
      spanRatios: (layer: number) => ratiosOf(kit, layer, 'spanRatios'),
      spans: () => spansOf(kit),
      memoryLimit: (layer: number) => limitOf(kit, layer, 'memoryLimit'),
    }),

    dispose(): void {
      ratios = [];
    },
  }) as AdaptiveSpanPolicy;
}

/**
 * Temporal range of Adaptive-Span (SPEC 5): memory never holds more than S slots and no span exceeds S, so one
 * layer reaches S tokens back: `numLayers * S`. The one formula the policy, its descriptor, the CLI and the
 * metrics use.
 */
export function adaptiveSpanTemporalRange(options: { maxSpan: number }, numLayers: number): number {
  return numLayers * options.maxSpan;
}

function resolveOptions(options: AdaptiveSpanOptions): ResolvedAdaptiveSpanOptions {
  checkOptionsOfKind(AdaptiveSpanOptionError, options, { kind: ADAPTIVE_SPAN_KIND, example: '{ maxSpan: 512, ramp: 32 }', savedBy: 'policy' });
  const { maxSpan, ramp } = options;
  if (typeof maxSpan !== 'number' || !Number.isInteger(maxSpan) || maxSpan < 1) {
    throw new AdaptiveSpanOptionError({
      option: 'maxSpan',
      expected: 'an integer >= 1 (tokens; also the largest memory per layer)',
      actual: describeValue(maxSpan),
    });
  }
  finiteNumberOption(AdaptiveSpanOptionError, 'ramp', ramp, { above: 0 });
  const alpha = finiteNumberOption(AdaptiveSpanOptionError, 'alpha', options.alpha, { atLeast: 0, fallback: ADAPTIVE_SPAN_DEFAULTS.alpha });
  const initFraction = options.initFraction ?? ADAPTIVE_SPAN_DEFAULTS.initFraction;
  if (typeof initFraction !== 'number' || !(initFraction >= 0 && initFraction <= 1)) {
    throw new AdaptiveSpanOptionError({
      option: 'initFraction',
      expected: 'a number in [0, 1] (the initial span as a fraction of maxSpan)',
      actual: describeValue(options.initFraction),
    });
  }
  const bufferValue = options.buffer ?? ADAPTIVE_SPAN_DEFAULTS.buffer;
  if (typeof bufferValue !== 'number' || !Number.isInteger(bufferValue) || bufferValue < 0) {
    throw new AdaptiveSpanOptionError({
      option: 'buffer',
      expected: 'an integer >= 0 (extra memory slots)',
      actual: describeValue(options.buffer),
    });
  }
  return { maxSpan, ramp, alpha, initFraction, buffer: bufferValue };
}
