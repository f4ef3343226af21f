// The Expire-Span MemoryPolicy (SPEC 4, Sukhbaatar et al. 2021): learned spans, soft ramp mask, span loss, real pruning.
import * as tf from '@tensorflow/tfjs';
import { checkOptionsOfKind, createSeededRandom, describeValue, finiteNumberOption, type SeededRandomState } from '@engram/core';
import { appendToMemory, defineMemoryPolicy, smallestPosition } from '@engram/memory';
import type {
  AttentionModulation,
  LayerMemory,
  LayerWrite,
  MemoryPolicy,
  MemoryState,
  MemoryView,
  ModulationContext,
  PolicyKit,
  PolicyTelemetry,
} from '@engram/memory';
import { ExpireSpanOptionError, ExpireSpanUsageError } from './errors.js';
import { spanRampMask, spanRampPenalty } from '@engram/kernels';
import { planPruning, predictSpans, queryKeyDistances } from './spans.js';

/** The policy's kind, also written into saved configs and states. */
export const EXPIRE_SPAN_KIND = 'expire-span';

/** Defaults of the optional options (SPEC 4; read by the descriptor's schema too). */
export const EXPIRE_SPAN_DEFAULTS = Object.freeze({ alpha: 1e-6, initFraction: 0.1, preDiv: 1, noise: false, prune: true });

/** Options of {@link createExpireSpanPolicy}. */
export interface ExpireSpanOptions {
  /** Lmax: the largest span a memory can get, in tokens (> 0). */
  maxSpan: number;
  /** R: length of the linear ramp of the soft mask, in tokens (> 0). */
  ramp: number;
  /** Weight of the span loss (default 1e-6; the paper uses 2e-6 on object collision). */
  alpha?: number;
  /** Every span starts at `initFraction * maxSpan` (the predictor bias is `logit(initFraction)`); in (0, 1), default 0.1. */
  initFraction?: number;
  /** The predictor reads `h / preDiv` (default 1; the small enwik8 recipe uses 64). */
  preDiv?: number;
  /** Training only: clamp the spans used for masking at `u * maxSpan`, `u ~ U(0, 1)` drawn once per forward pass (default false). */
  noise?: boolean;
  /** Drop memories that can no longer be seen (default true); false keeps every memory and only masks. */
  prune?: boolean;
  /** Hard cap on memory slots per layer: after pruning, the oldest slots beyond it are dropped (default: no cap). */
  maxMemory?: number;
  /**
   * Seed of the noise generator (default: drawn from Math.random). The generator's position is saved with
   * every memory state (`meta.noiseGenerator`), so a run resumed from a checkpoint draws the same noise.
   */
  seed?: number;
  /** Accepted so that `createExpireSpanPolicy(policy.config())` works; must be `'expire-span'` when given. */
  kind?: string;
}

/** The resolved options, as returned by `config()` (without `kind`). */
export interface ResolvedExpireSpanOptions {
  maxSpan: number;
  ramp: number;
  alpha: number;
  initFraction: number;
  preDiv: number;
  noise: boolean;
  prune: boolean;
  maxMemory: number | null;
  seed: number | null;
}

/** The span predictor of one layer: `e = maxSpan * sigmoid(weight . (h / preDiv) + bias)`. */
export interface SpanPredictor {
  /** `[modelDim]`, initialised to 0. */
  weight: tf.Variable<tf.Rank.R1>;
  /** `[]`, initialised to `logit(initFraction)`. */
  bias: tf.Variable<tf.Rank.R0>;
}

/** What the Expire-Span policy adds to the {@link MemoryPolicy} contract. */
interface ExpireSpanExtension {
  readonly options: Readonly<ResolvedExpireSpanOptions>;
  /** The span predictor of layer `layer` (after `build`). */
  spanPredictor(layer: number): SpanPredictor;
  /**
   * Un-noised spans `[batch, slots]` that layer `layer` predicts for `hidden` `[batch, slots, modelDim]`
   * (a new tensor owned by the caller).
   */
  predictSpans(layer: number, hidden: tf.Tensor3D): tf.Tensor2D;
}

/** The Expire-Span policy: a {@link MemoryPolicy} plus access to its span predictors. */
export interface ExpireSpanPolicy extends MemoryPolicy, ExpireSpanExtension {
  readonly kind: typeof EXPIRE_SPAN_KIND;
}

/**
 * Creates the Expire-Span memory policy of SPEC 4. Use it like the FIFO policy:
 * `createModel(config, { policy: createExpireSpanPolicy({ maxSpan: 1024, ramp: 32 }) })`.
 *
 * Per layer, one span predictor shared by the heads gives every memory (and every current token) a span
 * `e_i`; attention is multiplied by `m_ti = clamp(1 + (e_i - (t - t_i)) / R, 0, 1)` and renormalised; the
 * auxiliary loss pulls spans down; after each step, memories no query can see any more are dropped
 * (the same number in every batch row, a multiple of T), so memory and compute really shrink.
 */
export function createExpireSpanPolicy(options: ExpireSpanOptions): ExpireSpanPolicy {
  const resolved = resolveOptions(options);
  const { maxSpan, ramp, alpha, initFraction, preDiv, noise, prune, maxMemory } = resolved;
  const generator = createSeededRandom(resolved.seed ?? Math.floor(Math.random() * 2 ** 32));
  const seededPosition = generator.state();
  let predictors: SpanPredictor[] = [];
  let noiseLimit: number | null = null;
  // Whether a layer memory's positions are `tokensSeen - slots .. tokensSeen - 1` in every row (rel-shift path), and
  // its smallest position over every row (the view's oldestPosition; null while empty), remembered per memory object
  // (computed from the positions when unknown, e.g. after deserializeState).
  const contiguity = new WeakMap<LayerMemory, { tokensSeen: number; contiguous: boolean; oldest: number | null }>();

  const predictorOf = (kit: PolicyKit, layer: number, method: string): SpanPredictor =>
    predictors[kit.checkLayer(layer, method)] as SpanPredictor;

  const spansOf = (kit: PolicyKit, layer: number, hidden: tf.Tensor3D, method: string): tf.Tensor2D => {
    const predictor = predictorOf(kit, layer, method);
    const width = kit.dimensions(method).modelDim;
    if (hidden.rank !== 3 || hidden.shape[2] !== width) {
      throw new ExpireSpanUsageError(
        `expire-span policy: ${method}: hidden states must be [batch, slots, ${width}], got [${hidden.shape.join(', ')}].`,
      );
    }
    return predictSpans(hidden, predictor.weight, predictor.bias, maxSpan, preDiv);
  };

  /** Contiguity and oldest position of a memory, from the cache or (one read) from its positions. */
  const layoutOf = (memory: LayerMemory, tokensSeen: number): { contiguous: boolean; oldest: number | null } => {
    const known = contiguity.get(memory);
    if (known !== undefined && known.tokensSeen === tokensSeen) return known;
    const positions = memory.positions;
    const data = positions?.dataSync() ?? null;
    const layout = {
      tokensSeen,
      contiguous: positions === null || positionsAreContiguous(data as ArrayLike<number>, positions.shape[0], positions.shape[1], tokensSeen),
      oldest: data === null ? null : smallestPosition(data),
    };
    contiguity.set(memory, layout);
    return layout;
  };

  // Whether a segment's positions are `nextTokensSeen - T .. nextTokensSeen - 1` in every row, per positions tensor:
  // the layers of one write share it, so it is read once per write rather than once per layer.
  const segmentContiguity = new WeakMap<tf.Tensor, { nextTokensSeen: number; contiguous: boolean }>();

  /**
   * True when the last `kept` slots of concat(memory, segment) are known contiguous without reading them: the segment
   * is contiguous and either they all come from it or the old memory was contiguous too. False means "not known".
   */
  const suffixIsContiguous = (memory: LayerMemory, segment: tf.Tensor2D, kept: number, nextTokensSeen: number): boolean => {
    const [batch, segmentLength] = segment.shape;
    let known = segmentContiguity.get(segment);
    if (known === undefined || known.nextTokensSeen !== nextTokensSeen) {
      known = { nextTokensSeen, contiguous: positionsAreContiguous(segment.dataSync(), batch, segmentLength, nextTokensSeen) };
      segmentContiguity.set(segment, known);
    }
    if (!known.contiguous) return false;
    if (kept <= segmentLength || memory.positions === null) return true;
    const old = contiguity.get(memory);
    return old !== undefined && old.tokensSeen === nextTokensSeen - segmentLength && old.contiguous;
  };

  /** The next memory of one layer: prune the old memory, append the segment, apply the hard cap. */
  const writeLayer = (
    { layer, memory, input, positions: inputPositions, nextTokensSeen }: LayerWrite,
    kit: PolicyKit,
  ): LayerMemory => {
    const [batch, segmentLength] = inputPositions.shape;
    const oldSlots = memory.hidden?.shape[1] ?? 0;
    const total = oldSlots + segmentLength;
    // Per row, indices into concat(old memory, segment) that stay. The segment itself always stays.
    let keep: number[][];
    // With a cap of at most T slots only segment slots survive whatever pruning drops: no spans to predict or read.
    const capKeepsSegmentOnly = maxMemory !== null && maxMemory <= segmentLength;
    if (prune && !capKeepsSegmentOnly && memory.hidden && memory.positions && oldSlots > 0) {
      const spans = tf.tidy(() => spansOf(kit, layer, memory.hidden as tf.Tensor3D, 'write'));
      const spanData = spans.dataSync();
      spans.dispose();
      const plan = planPruning({
        spans: spanData,
        positions: memory.positions.dataSync(),
        batch,
        slots: oldSlots,
        nextQueryPosition: nextTokensSeen,
        ramp,
        blockSize: segmentLength,
      });
      keep = plan.keep;
    } else {
      keep = Array.from({ length: batch }, () => Array.from({ length: oldSlots }, (_, slot) => slot));
    }
    keep = keep.map((row) => [...row, ...Array.from({ length: segmentLength }, (_, index) => oldSlots + index)]);
    if (maxMemory !== null) keep = keep.map((row) => row.slice(Math.max(0, row.length - maxMemory)));
    const kept = keep[0]?.length ?? 0;
    const isSuffix = keep.every((row) => row.every((slot, index) => slot === total - kept + index));

    let hidden: tf.Tensor3D | null;
    let positions: tf.Tensor2D | null;
    // The kept positions `[batch, kept]` when they are written from host data (rows gathered out of order).
    let gatheredPositions: Int32Array | null = null;
    if (isSuffix) {
      // Nothing dropped out of order: a plain FIFO append-and-trim.
      const appended = appendToMemory(memory.hidden, memory.positions, input, inputPositions, kept);
      if (appended.evicted) {
        appended.evicted.hidden.dispose();
        appended.evicted.positions.dispose();
      }
      hidden = appended.hidden;
      positions = appended.positions;
    } else {
      // Rows keep different slots: gather them row by row from concat(old memory, segment).
      const flatIndices = new Int32Array(batch * kept);
      const positionData = new Int32Array(batch * kept);
      const oldPositions = memory.positions?.dataSync();
      const newPositions = inputPositions.dataSync();
      keep.forEach((row, rowIndex) =>
        row.forEach((slot, index) => {
          flatIndices[rowIndex * kept + index] = rowIndex * total + slot;
          positionData[rowIndex * kept + index] =
            slot < oldSlots
              ? ((oldPositions as ArrayLike<number>)[rowIndex * oldSlots + slot] as number)
              : (newPositions[rowIndex * segmentLength + slot - oldSlots] as number);
        }),
      );
      hidden = tf.tidy(() => {
        const allHidden = memory.hidden ? tf.concat([memory.hidden, input], 1) : input;
        const width = allHidden.shape[2];
        return tf.reshape(detachedGather(tf.reshape(allHidden, [batch * total, width]), flatIndices), [batch, kept, width]) as tf.Tensor3D;
      });
      positions = tf.tensor2d(positionData, [batch, kept], 'int32');
      gatheredPositions = positionData;
    }
    const next: LayerMemory = { hidden, positions, extra: {} };
    // The oldest position from what is known on the host: contiguous memory starts at nextTokensSeen - kept, the
    // gathered rows' positions were just written from host data, else the positions are read once (as the
    // contiguity check always did).
    let layout: { contiguous: boolean; oldest: number | null };
    if (positions === null) layout = { contiguous: true, oldest: null };
    else if (isSuffix && suffixIsContiguous(memory, inputPositions, kept, nextTokensSeen)) layout = { contiguous: true, oldest: nextTokensSeen - kept };
    else {
      const data = gatheredPositions ?? positions.dataSync();
      layout = { contiguous: positionsAreContiguous(data, batch, positions.shape[1], nextTokensSeen), oldest: smallestPosition(data) };
    }
    contiguity.set(next, { tokensSeen: nextTokensSeen, ...layout });
    return next;
  };

  return defineMemoryPolicy<ExpireSpanExtension>({
    kind: EXPIRE_SPAN_KIND,
    factory: 'createExpireSpanPolicy',
    fixedDimensions: ['modelDim'],
    error: (message) => new ExpireSpanUsageError(message),

    build({ dimensions, variable }): void {
      const initialBias = Math.log(initFraction / (1 - initFraction));
      // Stable names: the model saves them as `policy.layers.<l>.spanPredictor.weight|bias`.
      predictors = Array.from({ length: dimensions.numLayers }, (_, layer) => ({
        weight: variable(`layers.${layer}.spanPredictor.weight`, tf.zeros([dimensions.modelDim]) as tf.Tensor1D),
        bias: variable(`layers.${layer}.spanPredictor.bias`, tf.scalar(initialBias)),
      }));
    },

    read(memory: LayerMemory, _layer: number, state: MemoryState): MemoryView {
      const { contiguous, oldest } = layoutOf(memory, state.tokensSeen);
      return { hidden: memory.hidden, positions: memory.positions, contiguous, ...(oldest === null ? {} : { oldestPosition: oldest }) };
    },

    modulate(context: ModulationContext, kit: PolicyKit): AttentionModulation {
      const { layer, keyHidden, keyPositions, queryPositions, training } = context;
      kit.checkModulation(context, 'modulate');
      // One noise draw per forward pass, shared by the layers (drawn when layer 0 is modulated).
      let limit: number | null = null;
      if (training && noise) {
        if (layer === 0 || noiseLimit === null) noiseLimit = generator.next() * maxSpan;
        limit = noiseLimit;
      }
      return tf.tidy(() => {
        let spans = spansOf(kit, layer, keyHidden, 'modulate');
        if (limit !== null) spans = tf.minimum(spans, limit);
        // expireSpanMask and expireSpanAuxiliaryLoss from the small inputs: the kernels' fused ramp ops take the spans
        // [B, 1, 1, K] and the distances [B, 1, T, K] and never build the remaining spans or the on-ramp indicator.
        const [batch, queries] = queryPositions.shape;
        const keySpans = tf.reshape(spans, [batch, 1, 1, -1]) as tf.Tensor4D;
        const distances = tf.expandDims(queryKeyDistances(queryPositions, keyPositions), 1) as tf.Tensor4D;
        return {
          softMask: spanRampMask(keySpans, distances, ramp),
          auxiliaryLoss: tf.mul(spanRampPenalty(keySpans, distances, ramp), alpha / (ramp * queries * batch)) as tf.Scalar,
        };
      });
    },

    writeLayer,

    temporalRange: (numLayers: number) => expireSpanTemporalRange(resolved, numLayers),

    telemetry(state: MemoryState, kit: PolicyKit): PolicyTelemetry {
      const meanSpan: number[] = [];
      const maxSpanSeen: number[] = [];
      const memorySlots: number[] = [];
      state.layers.forEach((memory, layer) => {
        const slots = memory.hidden?.shape[1] ?? 0;
        memorySlots.push(slots);
        if (!memory.hidden || slots === 0) {
          meanSpan.push(0);
          maxSpanSeen.push(0);
          return;
        }
        const spans = tf.tidy(() => spansOf(kit, layer, memory.hidden as tf.Tensor3D, 'telemetry'));
        const data = spans.dataSync();
        spans.dispose();
        let sum = 0;
        let largest = 0;
        for (const value of data) {
          sum += value;
          if (value > largest) largest = value;
        }
        meanSpan.push(sum / data.length);
        maxSpanSeen.push(largest);
      });
      return { memorySlots, perLayer: { meanSpan, maxSpan: maxSpanSeen } };
    },

    stateMeta: () => ({ noiseGenerator: generator.state() }),

    /**
     * Puts the noise generator where the saved state left it. A state saved before the generator position
     * was recorded (no `meta.noiseGenerator`) restarts the generator from its seed, as a fresh policy would.
     */
    restoreStateMeta(meta: Readonly<Record<string, unknown>>): void {
      const saved = meta.noiseGenerator;
      try {
        generator.restore(saved === undefined ? seededPosition : (saved as SeededRandomState));
      } catch (cause) {
        throw new ExpireSpanUsageError(
          `expire-span policy: deserializeState: meta.noiseGenerator must be a generator state such as { algorithm: "xorshift32", state: 123 }, got ${describeValue(saved)}. The saved state is corrupt: save it again, or delete meta.noiseGenerator to restart the noise from the seed.`,
          { cause },
        );
      }
    },

    config(): Record<string, unknown> {
      const saved: Record<string, unknown> = { maxSpan, ramp, alpha, initFraction, preDiv, noise, prune };
      if (maxMemory !== null) saved.maxMemory = maxMemory;
      if (resolved.seed !== null) saved.seed = resolved.seed;
      return saved;
    },

    extend: (kit: PolicyKit): ExpireSpanExtension => ({
      options: Object.freeze({ ...resolved }),
      spanPredictor: (layer: number): SpanPredictor => predictorOf(kit, layer, 'spanPredictor'),
      predictSpans: (layer: number, hidden: tf.Tensor3D): tf.Tensor2D => spansOf(kit, layer, hidden, 'predictSpans'),
    }),

    dispose(): void {
      predictors = [];
    },
  }) as ExpireSpanPolicy;
}

/**
 * Temporal range of Expire-Span (SPEC 4): `m_ti > 0` needs `t - t_i < e_i + R < Lmax + R`, so one layer reaches at
 * most `ceil(Lmax + R) - 1` tokens back (no further than `maxMemory` slots when capped). The one formula the
 * policy, its descriptor, the CLI and the metrics use.
 */
export function expireSpanTemporalRange(
  options: { maxSpan: number; ramp: number; maxMemory?: number | null | undefined },
  numLayers: number,
): number {
  const reach = Math.ceil(options.maxSpan + options.ramp) - 1;
  const maxMemory = options.maxMemory ?? null;
  return numLayers * (maxMemory === null ? reach : Math.min(reach, maxMemory));
}

/**
 * `tf.gather(values, indices)` along axis 0 with a zero gradient. Memory is detached (SPEC 2.1), and
 * inside a gradient tape (BPTT, `trainStep` with several segments) a plain gather would still be
 * differentiated, which needs `UnsortedSegmentSum`, a kernel the wasm backend lacks. Running the
 * gather inside `tf.customGrad` keeps it off the tape.
 * @param values `[rows, width]`
 * @param indices row indices into `values`
 * @returns `[indices.length, width]`
 */
function detachedGather(values: tf.Tensor2D, indices: Int32Array): tf.Tensor2D {
  const gather = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = inputs[0] as tf.Tensor;
    return {
      value: tf.tidy(() => tf.gather(input, tf.tensor1d(indices, 'int32'))),
      gradFunc: () => tf.zerosLike(input),
    };
  });
  return gather(values) as tf.Tensor2D;
}

/** True when every row holds exactly the positions `tokensSeen - slots, ..., tokensSeen - 1`. */
function positionsAreContiguous(data: ArrayLike<number>, batch: number, slots: number, tokensSeen: number): boolean {
  for (let row = 0; row < batch; row++) {
    for (let slot = 0; slot < slots; slot++) {
      if (data[row * slots + slot] !== tokensSeen - slots + slot) return false;
    }
  }
  return true;
}

function resolveOptions(options: ExpireSpanOptions): ResolvedExpireSpanOptions {
  checkOptionsOfKind(ExpireSpanOptionError, options, { kind: EXPIRE_SPAN_KIND, example: '{ maxSpan: 1024, ramp: 32 }', savedBy: 'policy' });
  const flag = (name: keyof ExpireSpanOptions, value: unknown, fallback: boolean): boolean => {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw new ExpireSpanOptionError({ option: name, expected: 'true or false', actual: describeValue(value) });
    return value;
  };
  const maxSpan = finiteNumberOption(ExpireSpanOptionError, 'maxSpan', options.maxSpan, { above: 0 });
  const ramp = finiteNumberOption(ExpireSpanOptionError, 'ramp', options.ramp, { above: 0 });
  const preDiv = finiteNumberOption(ExpireSpanOptionError, 'preDiv', options.preDiv, { above: 0, fallback: EXPIRE_SPAN_DEFAULTS.preDiv });
  const alpha = finiteNumberOption(ExpireSpanOptionError, 'alpha', options.alpha, { atLeast: 0, fallback: EXPIRE_SPAN_DEFAULTS.alpha });
  const initFraction = options.initFraction ?? EXPIRE_SPAN_DEFAULTS.initFraction;
  if (typeof initFraction !== 'number' || !(initFraction > 0 && initFraction < 1)) {
    throw new ExpireSpanOptionError({
      option: 'initFraction',
      expected: 'a number strictly between 0 and 1',
      actual: describeValue(options.initFraction),
      fix: 'Spans start at initFraction * maxSpan; 0.1 is the paper default.',
    });
  }
  let maxMemory: number | null = null;
  if (options.maxMemory !== undefined && options.maxMemory !== null) {
    if (!Number.isInteger(options.maxMemory) || options.maxMemory < 1) {
      throw new ExpireSpanOptionError({ option: 'maxMemory', expected: 'an integer >= 1 (memory slots per layer)', actual: describeValue(options.maxMemory) });
    }
    maxMemory = options.maxMemory;
  }
  let seed: number | null = null;
  if (options.seed !== undefined && options.seed !== null) {
    if (!Number.isInteger(options.seed)) {
      throw new ExpireSpanOptionError({ option: 'seed', expected: 'an integer', actual: describeValue(options.seed) });
    }
    seed = options.seed;
  }
  return {
    maxSpan,
    ramp,
    alpha,
    initFraction,
    preDiv,
    noise: flag('noise', options.noise, EXPIRE_SPAN_DEFAULTS.noise),
    prune: flag('prune', options.prune, EXPIRE_SPAN_DEFAULTS.prune),
    maxMemory,
    seed,
  };
}
