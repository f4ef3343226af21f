// The Adaptive-Span MemoryPolicy (SPEC 5, Sukhbaatar et al. 2019): a learned span per head, soft mask, span loss, trimming.
import * as tf from '@tensorflow/tfjs';
import { appendToMemory, deserializeLayers, disposeState, emptyLayerMemory, serializeLayers } from '@engram/memory';
import type {
  AttentionModulation,
  MemoryPolicy,
  MemoryState,
  MemoryView,
  ModelDimensions,
  ModulationContext,
  PolicyTelemetry,
  SegmentRecord,
  SerializedMemoryState,
} from '@engram/memory';
import { AdaptiveSpanOptionError, AdaptiveSpanUsageError } from './errors.js';
import { adaptiveSpanLoss, adaptiveSpanMask, headDistances, memoryLimit } from './spans.js';

/** The policy's kind, also written into saved configs and states. */
export const ADAPTIVE_SPAN_KIND = 'adaptive-span';

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

/** The Adaptive-Span policy: a {@link MemoryPolicy} plus access to its learned spans. */
export interface AdaptiveSpanPolicy extends MemoryPolicy {
  readonly kind: typeof ADAPTIVE_SPAN_KIND;
  readonly options: Readonly<ResolvedAdaptiveSpanOptions>;
  /** The span ratios `z_h / S` of layer `layer`, a variable `[heads]` (after `build`). */
  spanRatios(layer: number): tf.Variable<tf.Rank.R1>;
  /** Current spans in tokens `z_h = S * ratio_h`, per layer and head (reads the variables). */
  spans(): number[][];
  /** Memory slots layer `layer` keeps after the next write, `min(S, ceil(z_max + R) + buffer)`. */
  memoryLimit(layer: number): number;
}

let instanceCounter = 0;

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
  const instance = instanceCounter++;
  let dimensions: ModelDimensions | null = null;
  let ratios: tf.Variable<tf.Rank.R1>[] = [];
  let disposed = false;

  const built = (method: string): ModelDimensions => {
    if (disposed) {
      throw new AdaptiveSpanUsageError(
        `adaptive-span policy: ${method}() was called after dispose(). Create a new policy with createAdaptiveSpanPolicy().`,
      );
    }
    if (!dimensions) {
      throw new AdaptiveSpanUsageError(
        `adaptive-span policy: ${method}() was called before build(). The model calls build() when the policy is passed to it; call policy.build({ numLayers, modelDim, numHeads, segmentLength }) yourself when using the policy alone.`,
      );
    }
    return dimensions;
  };

  const ratiosOf = (layer: number, method: string): tf.Variable<tf.Rank.R1> => {
    const { numLayers } = built(method);
    const variable = ratios[layer];
    if (!Number.isInteger(layer) || !variable) {
      throw new AdaptiveSpanUsageError(
        `adaptive-span policy: ${method}: layer must be an integer in [0, ${numLayers - 1}], got ${layer}.`,
      );
    }
    return variable;
  };

  const limitOf = (layer: number, method: string): number => {
    const largest = Math.max(...(ratiosOf(layer, method).dataSync() as Float32Array));
    return memoryLimit(largest, maxSpan, ramp, buffer);
  };

  const policy: AdaptiveSpanPolicy = {
    specificationVersion: 'v1',
    kind: ADAPTIVE_SPAN_KIND,
    needsAttentionProbabilities: false,
    options: Object.freeze({ ...resolved }),

    build(next: ModelDimensions): void {
      if (disposed) built('build');
      for (const name of ['numLayers', 'modelDim', 'numHeads', 'segmentLength'] as const) {
        const value = next?.[name];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
          throw new AdaptiveSpanUsageError(
            `adaptive-span policy: build() needs ${name} to be an integer >= 1, got ${JSON.stringify(value)}.`,
          );
        }
      }
      if (dimensions) {
        if (dimensions.numLayers === next.numLayers && dimensions.numHeads === next.numHeads) {
          dimensions = { ...next };
          return;
        }
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: already built for ${dimensions.numLayers} layers of ${dimensions.numHeads} heads, now asked for ${next.numLayers} layers of ${next.numHeads} heads. Create one policy per model.`,
        );
      }
      dimensions = { ...next };
      ratios = Array.from(
        { length: next.numLayers },
        (_, layer) =>
          tf.tidy(() =>
            // "<unique scope>/<stable name>": the model saves it as `policy.layers.<l>.spanRatio`.
            tf.variable(tf.fill([next.numHeads], initFraction), true, `adaptive-span-${instance}/layers.${layer}.spanRatio`),
          ) as tf.Variable<tf.Rank.R1>,
      );
    },

    initialState(batchSize: number): MemoryState {
      const { numLayers } = built('initialState');
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: initialState(batchSize) needs an integer >= 1, got ${batchSize}.`,
        );
      }
      return { layers: Array.from({ length: numLayers }, emptyLayerMemory), tokensSeen: 0, batchSize };
    },

    read(state: MemoryState, layer: number): MemoryView {
      built('read');
      const memory = state.layers[layer];
      if (!memory) {
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: read(state, ${layer}) is out of range; the state has ${state.layers.length} layers.`,
        );
      }
      // A trimmed FIFO: the memory always ends right before the current segment.
      return { hidden: memory.hidden, positions: memory.positions, contiguous: true };
    },

    modulate(context: ModulationContext): AttentionModulation {
      const { layer, keyHidden, keyPositions, queryPositions } = context;
      const variable = ratiosOf(layer, 'modulate');
      if (keyPositions.rank !== 2 || keyPositions.shape[0] !== keyHidden.shape[0] || keyPositions.shape[1] !== keyHidden.shape[1]) {
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: modulate: keyPositions must be [${keyHidden.shape[0]}, ${keyHidden.shape[1]}] to match keyHidden, got [${keyPositions.shape.join(', ')}].`,
        );
      }
      if (queryPositions.rank !== 2 || queryPositions.shape[0] !== keyPositions.shape[0]) {
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: modulate: queryPositions must be [${keyPositions.shape[0]}, queries], got [${queryPositions.shape.join(', ')}].`,
        );
      }
      return tf.tidy(() => {
        const distances = headDistances(queryPositions, keyPositions);
        return {
          softMask: adaptiveSpanMask(variable, distances, maxSpan, ramp),
          auxiliaryLoss: adaptiveSpanLoss(variable, alpha, maxSpan),
        };
      });
    },

    write(state: MemoryState, record: SegmentRecord): MemoryState {
      const { numLayers } = built('write');
      if (record.layerInputs.length !== numLayers || state.layers.length !== numLayers) {
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: write() expects ${numLayers} layers, got a state of ${state.layers.length} and ${record.layerInputs.length} layer inputs.`,
        );
      }
      const positions = record.positions;
      if (positions.rank !== 2 || positions.dtype !== 'int32' || positions.shape[0] !== state.batchSize) {
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: write(): record.positions must be int32 [${state.batchSize}, segmentLength], got ${positions.dtype} [${positions.shape.join(', ')}].`,
        );
      }
      const layers = state.layers.map((memory, layer) => {
        const input = record.layerInputs[layer] as tf.Tensor3D;
        const appended = appendToMemory(memory.hidden, memory.positions, input, positions, limitOf(layer, 'write'));
        if (appended.evicted) {
          appended.evicted.hidden.dispose();
          appended.evicted.positions.dispose();
        }
        return { hidden: appended.hidden, positions: appended.positions, extra: {} };
      });
      return { layers, tokensSeen: state.tokensSeen + positions.shape[1], batchSize: state.batchSize };
    },

    variables(): tf.Variable[] {
      return [...ratios];
    },

    separateVariables: () => [],

    afterOptimizerStep(): void {
      if (disposed) return;
      for (const variable of ratios) {
        tf.tidy(() => variable.assign(tf.clipByValue(variable, 0, 1)));
      }
    },

    temporalRange(numLayers: number): number {
      // Memory never holds more than S slots, and a span never exceeds S: one layer reaches S tokens back.
      return numLayers * maxSpan;
    },

    telemetry(state: MemoryState): PolicyTelemetry {
      built('telemetry');
      const spans = policy.spans();
      return {
        memorySlots: state.layers.map((memory) => memory.hidden?.shape[1] ?? 0),
        perLayer: {
          meanSpan: spans.map((layer) => layer.reduce((sum, value) => sum + value, 0) / layer.length),
          maxSpan: spans.map((layer) => Math.max(...layer)),
          memoryLimit: spans.map((_, layer) => limitOf(layer, 'telemetry')),
        },
      };
    },

    config(): Record<string, unknown> {
      return { kind: ADAPTIVE_SPAN_KIND, maxSpan, ramp, alpha, initFraction, buffer };
    },

    serializeState(state: MemoryState): SerializedMemoryState {
      return serializeLayers(state, { kind: ADAPTIVE_SPAN_KIND, specificationVersion: 'v1' });
    },

    deserializeState(serialized: SerializedMemoryState): MemoryState {
      const { numLayers, modelDim } = built('deserializeState');
      const state = deserializeLayers(serialized, { kind: ADAPTIVE_SPAN_KIND, numLayers });
      const problem = state.layers.findIndex((memory) => {
        if (Object.keys(memory.extra).length > 0) return true;
        if (!memory.hidden || !memory.positions) return false;
        if (memory.hidden.shape[2] !== modelDim) return true;
        // A trimmed FIFO holds `tokensSeen - slots .. tokensSeen - 1` in every row.
        const slots = memory.positions.shape[1];
        const data = memory.positions.dataSync();
        return Array.from(data).some((value, index) => value !== state.tokensSeen - slots + (index % slots));
      });
      if (problem >= 0) {
        disposeState(state);
        throw new AdaptiveSpanUsageError(
          `adaptive-span policy: deserializeState: layer ${problem} is not a trimmed FIFO memory of width ${modelDim} (positions must be the last slots before tokensSeen in every row, no extra tensors). Restore a state saved by an adaptive-span policy of the same model.`,
        );
      }
      return state;
    },

    spanRatios(layer: number): tf.Variable<tf.Rank.R1> {
      return ratiosOf(layer, 'spanRatios');
    },

    spans(): number[][] {
      built('spans');
      return ratios.map((variable) => Array.from(variable.dataSync(), (ratio) => ratio * maxSpan));
    },

    memoryLimit(layer: number): number {
      return limitOf(layer, 'memoryLimit');
    },

    dispose(): void {
      for (const variable of ratios) variable.dispose();
      ratios = [];
      disposed = true;
    },
  };
  return policy;
}

function resolveOptions(options: AdaptiveSpanOptions): ResolvedAdaptiveSpanOptions {
  if (typeof options !== 'object' || options === null) {
    throw new AdaptiveSpanOptionError({
      option: 'options',
      expected: 'an object such as { maxSpan: 512, ramp: 32 }',
      actual: options,
    });
  }
  if (options.kind !== undefined && options.kind !== ADAPTIVE_SPAN_KIND) {
    throw new AdaptiveSpanOptionError({
      option: 'kind',
      expected: `"${ADAPTIVE_SPAN_KIND}" (or absent)`,
      actual: options.kind,
      fix: "This config was saved by another policy; recreate it with that policy's factory.",
    });
  }
  const { maxSpan, ramp } = options;
  if (typeof maxSpan !== 'number' || !Number.isInteger(maxSpan) || maxSpan < 1) {
    throw new AdaptiveSpanOptionError({
      option: 'maxSpan',
      expected: 'an integer >= 1 (tokens; also the largest memory per layer)',
      actual: maxSpan,
    });
  }
  if (typeof ramp !== 'number' || !Number.isFinite(ramp) || ramp <= 0) {
    throw new AdaptiveSpanOptionError({ option: 'ramp', expected: 'a finite number > 0', actual: ramp });
  }
  const alpha = options.alpha ?? 5e-7;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) {
    throw new AdaptiveSpanOptionError({ option: 'alpha', expected: 'a finite number >= 0', actual: options.alpha });
  }
  const initFraction = options.initFraction ?? 0;
  if (typeof initFraction !== 'number' || !(initFraction >= 0 && initFraction <= 1)) {
    throw new AdaptiveSpanOptionError({
      option: 'initFraction',
      expected: 'a number in [0, 1] (the initial span as a fraction of maxSpan)',
      actual: options.initFraction,
    });
  }
  const bufferValue = options.buffer ?? 64;
  if (typeof bufferValue !== 'number' || !Number.isInteger(bufferValue) || bufferValue < 0) {
    throw new AdaptiveSpanOptionError({
      option: 'buffer',
      expected: 'an integer >= 0 (extra memory slots)',
      actual: options.buffer,
    });
  }
  return { maxSpan, ramp, alpha, initFraction, buffer: bufferValue };
}
