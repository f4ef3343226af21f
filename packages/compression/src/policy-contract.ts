// The compressive policy's contract (SPEC 3): its kind, extra state tensors, options, extension and temporal range.
import type * as tf from '@tensorflow/tfjs';
import type { MemoryPolicy, MemoryState, SegmentRecord } from '@engram/memory';
import type { Compressor, LayerCompressor } from './compressor.js';
import type { CompressionTraining } from './losses.js';

/** The compressive policy's kind. */
export const COMPRESSIVE_KIND = 'compressive';

/**
 * Names of the policy-specific tensors in `LayerMemory.extra` (all optional: absent while empty).
 * - `compressed` `[batch, C, D]`, `compressedPositions` int32 `[batch, C]`: the compressed FIFO, oldest first;
 * - `bufferHidden` `[batch, r, D]`, `bufferPositions` int32 `[batch, r]`, `bufferUsage` `[batch, r]`: evicted
 *   memories (r < c) waiting for a full block of c;
 * - `usageSum` `[batch, M]`, `usageCount` `[batch, M]` (most-used only): per regular slot, attention probability
 *   received (summed over heads and queries) and the number of queries that could see it, since it entered memory.
 */
export const EXTRA_KEYS = [
  'compressed',
  'compressedPositions',
  'bufferHidden',
  'bufferPositions',
  'bufferUsage',
  'usageSum',
  'usageCount',
] as const;

/** Options of {@link createCompressivePolicy}. */
export interface CompressivePolicyOptions {
  /** Regular memory slots per layer during training (n_m), an integer >= 0. */
  memoryLength: number;
  /** Compressed memory slots per layer during training (n_cm), an integer >= 0 (0 behaves exactly like FIFO). */
  compressedLength: number;
  /** The compression function f_c; the policy builds one independent instance (own parameters) per layer. */
  compressor: Compressor;
  /**
   * How f_c is trained (SPEC 3.2). Default `attention-reconstruction` for trainable compressors, `none` otherwise.
   * Modes other than `none` need a trainable compressor.
   */
  training?: CompressionTraining;
  /** Regular memory slots in evaluation (`record.training === false`); default `memoryLength`. */
  evalMemoryLength?: number;
  /** Compressed memory slots in evaluation; default `compressedLength`. */
  evalCompressedLength?: number;
  /**
   * Seed of the auto-encoding decoders' initialisation. When omitted, the decoders (and a compressor given
   * without a seed of its own) derive their seeds from the model's seed (`ModelDimensions.seed`) when the model
   * passes one; otherwise they are random.
   */
  seed?: number;
}

/** The compression loss of one segment, per layer and summed. */
export interface CompressionLoss {
  /** Sum over layers of the per-layer mean squared errors (a scalar the caller disposes). */
  total: tf.Scalar;
  /** Per layer, the loss value, or null when the layer compressed nothing this segment. */
  perLayer: (number | null)[];
}

/** What the compressive policy adds to the {@link MemoryPolicy} contract. */
export interface CompressiveExtension {
  /** The compressor blueprint given in the options. */
  readonly compressor: Compressor;
  readonly training: CompressionTraining;
  /** Compression rate c. */
  readonly rate: number;
  readonly memoryLength: number;
  readonly compressedLength: number;
  /** The per-layer compressors (after `build`). */
  layerCompressors(): readonly LayerCompressor[];
  /**
   * The compression loss of SPEC 3.2 for this segment (`attention-reconstruction` or `auto-encoding`), computed
   * from what `write(state, record)` would evict and compress; null when no layer compresses anything now or the
   * mode has no separate loss. `separateLoss` returns its `total`.
   */
  compressionLoss(state: MemoryState, record: SegmentRecord): CompressionLoss | null;
  /**
   * Compressor (and decoder) weights as named tensors: `compressor.layers.{l}.{name}` and
   * `decoder.layers.{l}.weight|bias`; copies owned by the caller.
   */
  getWeights(): Record<string, tf.Tensor>;
  /** Assigns weights produced by `getWeights()` of a policy with the same compressor kind, rate, width and depth. */
  setWeights(weights: Readonly<Record<string, tf.Tensor>>): void;
}

/** The compressive policy: a {@link MemoryPolicy} plus access to its compressors and their weights. */
export interface CompressivePolicy extends MemoryPolicy, CompressiveExtension {
  readonly kind: typeof COMPRESSIVE_KIND;
}

/**
 * Temporal range of a compressive memory (SPEC 3): `numLayers * (n_m + c * n_cm)` tokens. The one formula the
 * policy, its descriptor, the CLI and the metrics use.
 */
export function compressiveTemporalRange(
  options: { memoryLength: number; compressedLength: number; rate: number },
  numLayers: number,
): number {
  return numLayers * (options.memoryLength + options.rate * options.compressedLength);
}
