// Pure planning of the compressive policy: what each layer keeps, buffers and compresses, and initialisation seeds.
import * as tf from '@tensorflow/tfjs';
import { appendToMemory } from '@engram/memory';
import type { LayerMemory, ModelDimensions, SegmentRecord } from '@engram/memory';
import { InvalidCompressorInputError } from './errors.js';

/** Slots per layer in the current mode (training or evaluation). */
export interface Lengths {
  memory: number;
  compressed: number;
}

/** Evicted memories with their positions and (most-used) usage. */
export interface Entries {
  hidden: tf.Tensor3D;
  positions: tf.Tensor2D;
  usage?: tf.Tensor2D;
}

/** Everything `write` decides for one layer. */
export interface LayerPlan {
  regular: { hidden: tf.Tensor3D; positions: tf.Tensor2D } | null;
  usage: { sum: tf.Tensor2D; count: tf.Tensor2D } | null;
  /** Whole blocks of c to compress now, oldest first. */
  block: Entries | null;
  /** The remainder (fewer than c) waiting for the next step. */
  buffer: Entries | null;
}

/** Concatenates the non-empty parts along `axis`; null when every part is absent or empty. */
export function concatOptional<T extends tf.Tensor>(parts: (T | null | undefined)[], axis: number): T | null {
  const present = parts.filter((part): part is T => part !== null && part !== undefined && part.shape[axis] !== 0);
  if (present.length === 0) return null;
  if (present.length === 1) return present[0] as T;
  return tf.concat(present, axis) as T;
}

/** Slots `[start, start + size)` along axis 1; all of them is `tensor` itself (no copy). */
export function sliceSlots<T extends tf.Tensor>(tensor: T, start: number, size: number): T {
  if (start === 0 && size === tensor.shape[1]) return tensor;
  const begin = tensor.shape.map((_, axis) => (axis === 1 ? start : 0));
  const sizes = tensor.shape.map((length, axis) => (axis === 1 ? size : length));
  return tf.slice(tensor, begin, sizes) as T;
}

/** Slots along axis 1 (0 for an absent tensor). */
export function slotCount(tensor: tf.Tensor | null | undefined): number {
  return tensor ? (tensor.shape[1] as number) : 0;
}

/**
 * The model's seed, when the model passes one in its dimensions (`ModelDimensions.seed`, optional; absent in
 * older models, which then give random initialisations).
 */
export function modelSeedOf(dimensions: ModelDimensions): number | undefined {
  const value = (dimensions as ModelDimensions & { seed?: unknown }).seed;
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

/** Mixes a seed with a stream number (distinct streams give unrelated seeds). */
function seedStream(seed: number, stream: number): number {
  return (Math.imul(seed | 0, 0x85ebca6b) ^ Math.imul(stream, 0xc2b2ae35) ^ 0x27d4eb2f) >>> 0;
}

/**
 * Base seeds of the compressors and decoders. The policy's `seed` seeds the decoders; the model's
 * seed, when given, seeds both through separate streams so the compressor and decoder initialisations differ.
 * `compressor` is only a default: a compressor's own seed wins.
 */
export function initialisationSeeds(
  policySeed: number | undefined,
  modelSeed: number | undefined,
): { compressor: number | undefined; decoder: number | undefined } {
  return {
    compressor: modelSeed === undefined ? undefined : seedStream(modelSeed, 1),
    decoder: policySeed ?? (modelSeed === undefined ? undefined : seedStream(modelSeed, 2)),
  };
}

/**
 * Plans one layer's write (SPEC 3): appends the segment's inputs to the regular FIFO, updates the usage statistics
 * (most-used), and splits what is evicted (plus the buffer) into whole blocks of `rate` to compress now and a
 * remainder to buffer. Creates tensors only; call it inside `tf.tidy` and keep what the plan returns.
 */
export function planLayer(
  memory: LayerMemory,
  layer: number,
  record: SegmentRecord,
  lengths: Lengths,
  compression: { rate: number; needsUsage: boolean },
): LayerPlan {
  const { rate, needsUsage } = compression;
  const input = record.layerInputs[layer] as tf.Tensor3D;
  const [batch, segmentLength] = record.positions.shape;
  const regularSlots = slotCount(memory.hidden);

  // Usage statistics of the regular memory (most-used): add this segment's attention, SPEC 3.1.
  let usageSum: tf.Tensor2D | null = null;
  let usageCount: tf.Tensor2D | null = null;
  if (needsUsage) {
    if (regularSlots > 0) {
      const probabilities = record.attentionProbabilities?.[layer];
      if (!probabilities) {
        throw new InvalidCompressorInputError({
          operation: 'compressive policy write',
          parameter: `record.attentionProbabilities[${layer}]`,
          expected: 'attention probabilities [batch, heads, T, keys] (the policy sets needsAttentionProbabilities)',
          actual: 'nothing',
          fix: 'The model must pass attention probabilities when policy.needsAttentionProbabilities is true.',
        });
      }
      const compressedSlots = slotCount(memory.extra.compressed);
      const keys = compressedSlots + regularSlots + segmentLength;
      if (probabilities.rank !== 4 || probabilities.shape[0] !== batch || probabilities.shape[3] !== keys) {
        throw new InvalidCompressorInputError({
          operation: 'compressive policy write',
          parameter: `record.attentionProbabilities[${layer}]`,
          expected: `[${batch}, heads, ${segmentLength}, ${keys}] (keys = ${compressedSlots} compressed + ${regularSlots} regular + ${segmentLength} current)`,
          actual: `[${probabilities.shape.join(', ')}]`,
          fix: 'Pass the probabilities of the attention call that read this state.',
        });
      }
      const received = tf.sum(
        tf.slice(probabilities, [0, 0, 0, compressedSlots], [-1, -1, -1, regularSlots]),
        [1, 2],
      ) as tf.Tensor2D;
      const previousSum = (memory.extra.usageSum as tf.Tensor2D | undefined) ?? tf.zeros([batch, regularSlots]);
      const previousCount = (memory.extra.usageCount as tf.Tensor2D | undefined) ?? tf.zeros([batch, regularSlots]);
      // Every query of the segment comes after every memory, so all T of them could see each regular slot.
      usageSum = tf.add(previousSum, received) as tf.Tensor2D;
      usageCount = tf.add(previousCount, tf.scalar(segmentLength)) as tf.Tensor2D;
    }
    // New entries start with no usage.
    usageSum = concatOptional([usageSum, tf.zeros([batch, segmentLength]) as tf.Tensor2D], 1);
    usageCount = concatOptional([usageCount, tf.zeros([batch, segmentLength]) as tf.Tensor2D], 1);
  }

  const appended = appendToMemory(memory.hidden, memory.positions, input, record.positions, lengths.memory);
  const regular =
    appended.hidden && appended.positions ? { hidden: appended.hidden, positions: appended.positions } : null;
  const total = regularSlots + segmentLength;
  const kept = Math.min(lengths.memory, total);
  const dropped = total - kept;
  let keptUsage: LayerPlan['usage'] = null;
  let evictedUsage: tf.Tensor2D | undefined;
  if (usageSum && usageCount) {
    if (kept > 0) keptUsage = { sum: sliceSlots(usageSum, dropped, kept), count: sliceSlots(usageCount, dropped, kept) };
    if (dropped > 0) {
      // usage = received / queries that could see it; a memory evicted before any query saw it has usage 0.
      evictedUsage = tf.div(
        sliceSlots(usageSum, 0, dropped),
        tf.maximum(sliceSlots(usageCount, 0, dropped), tf.scalar(1)),
      ) as tf.Tensor2D;
    }
  }

  if (lengths.compressed === 0 || !appended.evicted) {
    // Nothing new to compress. With no compressed memory, evicted entries (and any buffer) are dropped: FIFO.
    const keepBuffer = lengths.compressed > 0;
    const buffer: Entries | null =
      keepBuffer && memory.extra.bufferHidden && memory.extra.bufferPositions
        ? {
            hidden: memory.extra.bufferHidden as tf.Tensor3D,
            positions: memory.extra.bufferPositions as tf.Tensor2D,
            ...(memory.extra.bufferUsage ? { usage: memory.extra.bufferUsage as tf.Tensor2D } : {}),
          }
        : null;
    return { regular, usage: keptUsage, block: null, buffer };
  }

  const pendingHidden = concatOptional(
    [memory.extra.bufferHidden as tf.Tensor3D | undefined, appended.evicted.hidden],
    1,
  ) as tf.Tensor3D;
  const pendingPositions = concatOptional(
    [memory.extra.bufferPositions as tf.Tensor2D | undefined, appended.evicted.positions],
    1,
  ) as tf.Tensor2D;
  const pendingUsage = needsUsage
    ? (concatOptional([memory.extra.bufferUsage as tf.Tensor2D | undefined, evictedUsage], 1) as tf.Tensor2D)
    : undefined;
  const pending = slotCount(pendingHidden);
  const whole = Math.floor(pending / rate) * rate;
  const rest = pending - whole;
  const take = (start: number, size: number): Entries => ({
    hidden: sliceSlots(pendingHidden, start, size),
    positions: sliceSlots(pendingPositions, start, size),
    ...(pendingUsage ? { usage: sliceSlots(pendingUsage, start, size) } : {}),
  });
  return {
    regular,
    usage: keptUsage,
    block: whole > 0 ? take(0, whole) : null,
    buffer: rest > 0 ? take(whole, rest) : null,
  };
}
