// The compressive MemoryPolicy (SPEC 3, Rae et al. 2019): regular FIFO of n_m, compressed FIFO of n_cm, rate c.
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '@engram/kernels';
import { appendToMemory, defineMemoryPolicy } from '@engram/memory';
import type {
  LayerMemory,
  LayerWrite,
  MemoryPolicy,
  MemoryState,
  MemoryView,
  ModelDimensions,
  PolicyErrorDetails,
  PolicyKit,
  PolicyTelemetry,
  SegmentRecord,
  SerializedMemoryState,
} from '@engram/memory';
import { layerSeed } from './compressor.js';
import type { Compressor, CompressorInput, LayerCompressor } from './compressor.js';
import {
  CompressionStateError,
  CompressorLifecycleError,
  InvalidCompressionOptionError,
  InvalidCompressorInputError,
} from './errors.js';
import { attentionReconstructionLoss, autoEncodingLoss, COMPRESSION_TRAINING_MODES, LinearDecoder } from './losses.js';
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
interface CompressiveExtension {
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

/** The compression package's error class for a check the policy skeleton failed. */
function compressiveError(message: string, details: PolicyErrorDetails): Error {
  switch (details.category) {
    case 'lifecycle':
      return new CompressorLifecycleError(message);
    case 'dimensions':
      return new InvalidCompressionOptionError({
        factory: 'compressive policy build()',
        option: details.parameter ?? 'dimensions',
        expected: details.expected ?? 'an integer >= 1',
        actual: details.actual ?? 'something else',
      });
    case 'input':
      return details.parameter === 'batchSize'
        ? new InvalidCompressionOptionError({
            factory: 'compressive policy initialState()',
            option: 'batchSize',
            expected: details.expected ?? 'an integer >= 1',
            actual: details.actual ?? 'something else',
          })
        : new InvalidCompressorInputError({
            operation: `compressive policy ${details.method}`,
            parameter: details.parameter ?? 'input',
            expected: details.expected ?? 'a valid value',
            actual: details.actual ?? 'something else',
          });
    case 'state':
      return new CompressionStateError(details.parameter ?? 'state', message);
  }
}

interface Lengths {
  memory: number;
  compressed: number;
}

/** Evicted memories with their positions and (most-used) usage. */
interface Entries {
  hidden: tf.Tensor3D;
  positions: tf.Tensor2D;
  usage?: tf.Tensor2D;
}

/** Everything `write` decides for one layer. */
interface LayerPlan {
  regular: { hidden: tf.Tensor3D; positions: tf.Tensor2D } | null;
  usage: { sum: tf.Tensor2D; count: tf.Tensor2D } | null;
  /** Whole blocks of c to compress now, oldest first. */
  block: Entries | null;
  /** The remainder (fewer than c) waiting for the next step. */
  buffer: Entries | null;
}

function checkLength(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidCompressionOptionError({
      factory: 'createCompressivePolicy',
      option,
      expected: 'an integer >= 0 (memory slots per layer)',
      actual: JSON.stringify(value),
    });
  }
  return value;
}

function concatOptional<T extends tf.Tensor>(parts: (T | null | undefined)[], axis: number): T | null {
  const present = parts.filter((part): part is T => part !== null && part !== undefined && part.shape[axis] !== 0);
  if (present.length === 0) return null;
  if (present.length === 1) return present[0] as T;
  return tf.concat(present, axis) as T;
}

function sliceSlots<T extends tf.Tensor>(tensor: T, start: number, size: number): T {
  const begin = tensor.shape.map((_, axis) => (axis === 1 ? start : 0));
  const sizes = tensor.shape.map((length, axis) => (axis === 1 ? size : length));
  return tf.slice(tensor, begin, sizes) as T;
}

function slotCount(tensor: tf.Tensor | null | undefined): number {
  return tensor ? (tensor.shape[1] as number) : 0;
}

/**
 * The model's seed, when the model passes one in its dimensions (`ModelDimensions.seed`, optional; absent in
 * older models, which then give random initialisations).
 */
function modelSeedOf(dimensions: ModelDimensions): number | undefined {
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
function initialisationSeeds(
  policySeed: number | undefined,
  modelSeed: number | undefined,
): { compressor: number | undefined; decoder: number | undefined } {
  return {
    compressor: modelSeed === undefined ? undefined : seedStream(modelSeed, 1),
    decoder: policySeed ?? (modelSeed === undefined ? undefined : seedStream(modelSeed, 2)),
  };
}

/**
 * A compressive memory (SPEC 3). Per layer, after each segment:
 * `old` = entries falling out of the regular FIFO of n_m; `m <- last n_m of concat(m, h)`;
 * `new_cm = f_c(old)` over whole blocks of c (the remainder waits in a buffer for the next step);
 * `cm <- last n_cm of concat(cm, new_cm)`. Attention reads `concat(cm, m)`; compressed slots sit at the floor of
 * the mean position of what they summarise, so the view is non-contiguous once compressed memory exists.
 * Temporal range `L * (n_m + c * n_cm)`.
 */
export function createCompressivePolicy(options: CompressivePolicyOptions): CompressivePolicy {
  const memoryLength = checkLength('memoryLength', options?.memoryLength);
  const compressedLength = checkLength('compressedLength', options?.compressedLength);
  const evalMemoryLength =
    options.evalMemoryLength === undefined ? memoryLength : checkLength('evalMemoryLength', options.evalMemoryLength);
  const evalCompressedLength =
    options.evalCompressedLength === undefined
      ? compressedLength
      : checkLength('evalCompressedLength', options.evalCompressedLength);
  const compressor = options.compressor;
  if (
    compressor === null ||
    typeof compressor !== 'object' ||
    compressor.specificationVersion !== 'v1' ||
    typeof compressor.build !== 'function'
  ) {
    throw new InvalidCompressionOptionError({
      factory: 'createCompressivePolicy',
      option: 'compressor',
      expected: "a Compressor with specificationVersion 'v1' (e.g. createConvCompressor({ rate: 3 }))",
      actual:
        compressor === null || typeof compressor !== 'object'
          ? JSON.stringify(compressor)
          : `an object with specificationVersion ${JSON.stringify((compressor as { specificationVersion?: unknown }).specificationVersion)}`,
      fix: 'Pass the result of a compressor factory, not the factory itself.',
    });
  }
  const training: CompressionTraining =
    options.training ?? (compressor.trainable ? 'attention-reconstruction' : 'none');
  if (!COMPRESSION_TRAINING_MODES.includes(training)) {
    throw new InvalidCompressionOptionError({
      factory: 'createCompressivePolicy',
      option: 'training',
      expected: COMPRESSION_TRAINING_MODES.map((mode) => `'${mode}'`).join(' | '),
      actual: JSON.stringify(training),
    });
  }
  if (training !== 'none' && !compressor.trainable) {
    throw new InvalidCompressionOptionError({
      factory: 'createCompressivePolicy',
      option: 'training',
      expected: `'none' for the ${compressor.kind} compressor (it has no variables to train)`,
      actual: JSON.stringify(training),
      fix: "Use training: 'none', or a trainable compressor such as createConvCompressor.",
    });
  }
  const seed = options.seed;
  if (seed !== undefined && !Number.isInteger(seed)) {
    throw new InvalidCompressionOptionError({
      factory: 'createCompressivePolicy',
      option: 'seed',
      expected: 'an integer (or omitted)',
      actual: JSON.stringify(seed),
    });
  }
  const rate = compressor.rate;
  const needsUsage = compressor.needsUsage;
  const detachCompressed = training !== 'bptt';

  let compressors: LayerCompressor[] = [];
  let decoders: LinearDecoder[] = [];

  const lengthsFor = (record: { training: boolean }): Lengths =>
    record.training
      ? { memory: memoryLength, compressed: compressedLength }
      : { memory: evalMemoryLength, compressed: evalCompressedLength };

  const planLayer = (memory: LayerMemory, layer: number, record: SegmentRecord, lengths: Lengths): LayerPlan => {
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
  };

  const compressBlock = (layer: number, block: Entries): { hidden: tf.Tensor3D; positions: tf.Tensor2D } => {
    const compressorInput: CompressorInput = {
      hidden: block.hidden,
      positions: block.positions,
      ...(needsUsage && block.usage ? { usage: block.usage } : {}),
    };
    return (compressors[layer] as LayerCompressor).compress(compressorInput);
  };

  const writeLayer = (memory: LayerMemory, layer: number, record: SegmentRecord, lengths: Lengths): LayerMemory => {
    const result = tf.tidy(() => {
      const plan = planLayer(memory, layer, record, lengths);
      const out: Record<string, tf.Tensor> = {};
      if (plan.regular) {
        out.hidden = plan.regular.hidden;
        out.positions = plan.regular.positions;
      }
      if (plan.usage) {
        out['extra.usageSum'] = plan.usage.sum;
        out['extra.usageCount'] = plan.usage.count;
      }
      if (plan.buffer) {
        out['extra.bufferHidden'] = plan.buffer.hidden;
        out['extra.bufferPositions'] = plan.buffer.positions;
        if (plan.buffer.usage) out['extra.bufferUsage'] = plan.buffer.usage;
      }
      let compressedHidden = lengths.compressed > 0 ? (memory.extra.compressed as tf.Tensor3D | undefined) : undefined;
      let compressedPositions =
        lengths.compressed > 0 ? (memory.extra.compressedPositions as tf.Tensor2D | undefined) : undefined;
      if (plan.block) {
        const fresh = compressBlock(layer, plan.block);
        const freshHidden = detachCompressed ? stopGradient(fresh.hidden) : fresh.hidden;
        compressedHidden = concatOptional([compressedHidden, freshHidden], 1) as tf.Tensor3D;
        compressedPositions = concatOptional([compressedPositions, fresh.positions], 1) as tf.Tensor2D;
      }
      const compressedSlots = slotCount(compressedHidden);
      if (compressedHidden && compressedPositions && compressedSlots > lengths.compressed) {
        const start = compressedSlots - lengths.compressed;
        compressedHidden = lengths.compressed > 0 ? sliceSlots(compressedHidden, start, lengths.compressed) : undefined;
        compressedPositions =
          lengths.compressed > 0 ? sliceSlots(compressedPositions, start, lengths.compressed) : undefined;
      }
      if (compressedHidden && compressedPositions) {
        out['extra.compressed'] = compressedHidden;
        out['extra.compressedPositions'] = compressedPositions;
      }
      return out;
    });
    const extra: Record<string, tf.Tensor> = {};
    for (const [name, tensor] of Object.entries(result)) {
      if (name.startsWith('extra.')) extra[name.slice('extra.'.length)] = tensor;
    }
    return {
      hidden: (result.hidden as tf.Tensor3D | undefined) ?? null,
      positions: (result.positions as tf.Tensor2D | undefined) ?? null,
      extra,
    };
  };

  const compressionLoss = (state: MemoryState, record: SegmentRecord, kit: PolicyKit): CompressionLoss | null => {
    kit.checkRecord(state, record, 'compressionLoss');
    if (training !== 'attention-reconstruction' && training !== 'auto-encoding') return null;
    const lengths = lengthsFor(record);
    const perLayer: (number | null)[] = [];
    const losses: tf.Scalar[] = [];
    const lossLayers: number[] = [];
    state.layers.forEach((memory, layer) => {
      perLayer.push(null);
      const loss = tf.tidy((): tf.Scalar | void => {
        const plan = planLayer(memory, layer, record, lengths);
        if (!plan.block) return undefined;
        const compressed = compressBlock(layer, plan.block).hidden;
        if (training === 'auto-encoding') {
          return autoEncodingLoss(plan.block.hidden, compressed, decoders[layer] as LinearDecoder);
        }
        const attention = record.contentAttention[layer];
        if (typeof attention !== 'function') {
          throw new InvalidCompressorInputError({
            operation: 'compressive policy compressionLoss',
            parameter: `record.contentAttention[${layer}]`,
            expected: 'the content attention function of the layer (SPEC 3.2)',
            actual: String(attention),
          });
        }
        const queries = record.layerInputs[layer] as tf.Tensor3D;
        return attentionReconstructionLoss(attention, queries, plan.block.hidden, compressed);
      });
      if (loss) {
        losses.push(loss);
        lossLayers.push(layer);
      }
    });
    if (losses.length === 0) return null;
    const total = tf.tidy(() => (losses.length === 1 ? tf.clone(losses[0] as tf.Scalar) : tf.addN(losses)) as tf.Scalar);
    losses.forEach((loss, index) => {
      perLayer[lossLayers[index] as number] = loss.dataSync()[0] as number;
      loss.dispose();
    });
    return { total, perLayer };
  };

  const getWeights = (kit: PolicyKit): Record<string, tf.Tensor> => {
    kit.dimensions('getWeights');
    const weights: Record<string, tf.Tensor> = {};
    compressors.forEach((instance, layer) => {
      for (const [name, tensor] of Object.entries(instance.getWeights())) {
        weights[`compressor.layers.${layer}.${name}`] = tensor;
      }
    });
    decoders.forEach((decoder, layer) => {
      weights[`decoder.layers.${layer}.weight`] = tf.clone(decoder.weight);
      weights[`decoder.layers.${layer}.bias`] = tf.clone(decoder.bias);
    });
    return weights;
  };

  const setWeights = (kit: PolicyKit, weights: Readonly<Record<string, tf.Tensor>>): void => {
    kit.dimensions('setWeights');
    const expected = getWeights(kit);
    const unknown = Object.keys(weights ?? {}).filter((name) => !(name in expected));
    const problem =
      unknown.length > 0
        ? { key: unknown[0] as string, text: `unexpected tensors ${unknown.map((name) => JSON.stringify(name)).join(', ')}` }
        : Object.entries(expected)
            .map(([name, tensor]) => {
              const value = weights[name];
              if (value && value.dtype === tensor.dtype && value.shape.join() === tensor.shape.join()) return null;
              const got = value ? `${value.dtype} [${value.shape.join(', ')}]` : 'nothing';
              return { key: name, text: `"${name}" must be ${tensor.dtype} [${tensor.shape.join(', ')}], got ${got}` };
            })
            .find((entry) => entry !== null);
    for (const tensor of Object.values(expected)) tensor.dispose();
    if (problem) {
      throw new CompressionStateError(
        problem.key,
        `compressive policy setWeights(): ${problem.text}. Pass what getWeights() of a policy with the same ` +
          'compressor, training mode, width and depth returned.',
      );
    }
    compressors.forEach((instance, layer) => {
      const prefix = `compressor.layers.${layer}.`;
      const own: Record<string, tf.Tensor> = {};
      for (const [name, tensor] of Object.entries(weights)) {
        if (name.startsWith(prefix)) own[name.slice(prefix.length)] = tensor;
      }
      instance.setWeights(own);
    });
    decoders.forEach((decoder, layer) => {
      decoder.weight.assign(weights[`decoder.layers.${layer}.weight`] as tf.Tensor2D);
      decoder.bias.assign(weights[`decoder.layers.${layer}.bias`] as tf.Tensor1D);
    });
  };

  return defineMemoryPolicy<CompressiveExtension>({
    kind: COMPRESSIVE_KIND,
    factory: 'createCompressivePolicy',
    needsAttentionProbabilities: needsUsage,
    fixedDimensions: ['modelDim'],
    extraTensors: EXTRA_KEYS,
    error: compressiveError,

    build({ dimensions: next, scope }): void {
      // Variables are `<unique scope>/<stable name>`: the stable names (`compressor.layers.0.weight`, ...) never
      // depend on what else lives in the process.
      const seeds = initialisationSeeds(seed, modelSeedOf(next));
      const created: LayerCompressor[] = [];
      const createdDecoders: LinearDecoder[] = [];
      try {
        for (let layer = 0; layer < next.numLayers; layer++) {
          created.push(
            compressor.build({
              modelDim: next.modelDim,
              layer,
              namePrefix: `${scope}/compressor.layers.${layer}`,
              ...(seeds.compressor === undefined ? {} : { defaultSeed: seeds.compressor }),
            }),
          );
          if (training === 'auto-encoding') {
            createdDecoders.push(
              new LinearDecoder({
                modelDim: next.modelDim,
                rate,
                seed:
                  seeds.decoder === undefined ? Math.floor(Math.random() * 0x7fffffff) : layerSeed(seeds.decoder, layer),
                namePrefix: `${scope}/decoder.layers.${layer}`,
              }),
            );
          }
        }
      } catch (error) {
        for (const instance of created) instance.dispose();
        for (const decoder of createdDecoders) decoder.dispose();
        throw error;
      }
      compressors = created;
      decoders = createdDecoders;
    },

    read(memory: LayerMemory): MemoryView {
      const compressed = memory.extra.compressed as tf.Tensor3D | undefined;
      const compressedPositions = memory.extra.compressedPositions as tf.Tensor2D | undefined;
      if (!compressed || !compressedPositions) {
        return { hidden: memory.hidden, positions: memory.positions, contiguous: true };
      }
      if (!memory.hidden || !memory.positions) {
        return { hidden: compressed, positions: compressedPositions, contiguous: false };
      }
      return {
        hidden: tf.concat([compressed, memory.hidden], 1),
        positions: tf.concat([compressedPositions, memory.positions], 1),
        contiguous: false,
      };
    },

    writeLayer: ({ memory, layer, record }: LayerWrite): LayerMemory => writeLayer(memory, layer, record, lengthsFor(record)),

    variables(): tf.Variable[] {
      return training === 'bptt' ? compressors.flatMap((instance) => instance.variables()) : [];
    },

    separateVariables(): tf.Variable[] {
      // bptt: the compressor is trained by the LM loss (variables()). none: a trainable compressor is frozen; its
      // variables are listed here so the model saves and restores them, and separateLoss is always null.
      if (training === 'bptt') return [];
      return [
        ...compressors.flatMap((instance) => instance.variables()),
        ...decoders.flatMap((decoder) => decoder.variables()),
      ];
    },

    separateLoss: (state: MemoryState, record: SegmentRecord, kit: PolicyKit): tf.Scalar | null =>
      compressionLoss(state, record, kit)?.total ?? null,

    temporalRange: (numLayers: number) => compressiveTemporalRange({ memoryLength, compressedLength, rate }, numLayers),

    telemetry(state: MemoryState): PolicyTelemetry {
      const regularSlots = state.layers.map((memory) => slotCount(memory.hidden));
      const compressedSlots = state.layers.map((memory) => slotCount(memory.extra.compressed));
      const bufferedSlots = state.layers.map((memory) => slotCount(memory.extra.bufferHidden));
      return {
        memorySlots: regularSlots.map((slots, layer) => slots + (compressedSlots[layer] as number)),
        perLayer: { regularSlots, compressedSlots, bufferedSlots },
      };
    },

    config: (): Record<string, unknown> => ({
      memoryLength,
      compressedLength,
      evalMemoryLength,
      evalCompressedLength,
      training,
      ...(seed === undefined ? {} : { seed }),
      compressor: compressor.config(),
    }),

    stateMeta: () => ({ rate, compressorKind: compressor.kind }),

    checkSavedState(serialized: SerializedMemoryState): void {
      if (serialized?.meta?.rate !== rate) {
        throw new CompressionStateError(
          'rate',
          `compressive policy deserializeState: the saved state was written with rate ${JSON.stringify(serialized?.meta?.rate)}, ` +
            `this policy compresses at rate ${rate}. Restore it with a policy of the same rate.`,
        );
      }
    },

    checkRestoredLayer(memory: LayerMemory, layer: number, state: MemoryState, kit: PolicyKit): null {
      checkExtra(memory, layer, state.batchSize, kit.dimensions('deserializeState').modelDim);
      return null;
    },

    extend: (kit: PolicyKit): CompressiveExtension => ({
      compressor,
      training,
      rate,
      memoryLength,
      compressedLength,
      layerCompressors: () => compressors,
      compressionLoss: (state: MemoryState, record: SegmentRecord) => compressionLoss(state, record, kit),
      getWeights: () => getWeights(kit),
      setWeights: (weights: Readonly<Record<string, tf.Tensor>>) => setWeights(kit, weights),
    }),

    dispose(): void {
      for (const instance of compressors) instance.dispose();
      for (const decoder of decoders) decoder.dispose();
      compressors = [];
      decoders = [];
    },
  }) as CompressivePolicy;

  function checkExtra(memory: LayerMemory, layer: number, batchSize: number, modelDim: number): void {
    const fail = (key: string, expected: string, tensor: tf.Tensor | undefined): never => {
      throw new CompressionStateError(
        `layer${layer}.extra.${key}`,
        `compressive policy deserializeState: layer ${layer} extra "${key}" must be ${expected}, got ` +
          `${tensor ? `${tensor.dtype} [${tensor.shape.join(', ')}]` : 'nothing'}. The saved state is corrupt or from another policy.`,
      );
    };
    const pair = (hiddenKey: string, positionsKey: string, maxSlots: number): void => {
      const hidden = memory.extra[hiddenKey];
      const positions = memory.extra[positionsKey];
      if (!hidden && !positions) return;
      if (!hidden || hidden.rank !== 3 || hidden.shape[0] !== batchSize || hidden.shape[2] !== modelDim || hidden.dtype !== 'float32') {
        fail(hiddenKey, `float32 [${batchSize}, slots, ${modelDim}]`, hidden);
      }
      const slots = (hidden as tf.Tensor).shape[1] as number;
      if (slots > maxSlots) fail(hiddenKey, `at most ${maxSlots} slots`, hidden);
      if (!positions || positions.dtype !== 'int32' || positions.shape.join() !== [batchSize, slots].join()) {
        fail(positionsKey, `int32 [${batchSize}, ${slots}]`, positions);
      }
    };
    pair('compressed', 'compressedPositions', Number.MAX_SAFE_INTEGER);
    pair('bufferHidden', 'bufferPositions', rate - 1);
    const regularSlots = slotCount(memory.hidden);
    for (const key of ['usageSum', 'usageCount'] as const) {
      const tensor = memory.extra[key];
      if (needsUsage && regularSlots > 0 && (!tensor || tensor.shape.join() !== [batchSize, regularSlots].join())) {
        fail(key, `float32 [${batchSize}, ${regularSlots}]`, tensor);
      }
    }
    const bufferSlots = slotCount(memory.extra.bufferHidden);
    if (needsUsage && bufferSlots > 0) {
      const tensor = memory.extra.bufferUsage;
      if (!tensor || tensor.shape.join() !== [batchSize, bufferSlots].join()) {
        fail('bufferUsage', `float32 [${batchSize}, ${bufferSlots}]`, tensor);
      }
    }
  }
}
