// The compressive MemoryPolicy (SPEC 3, Rae et al. 2019): regular FIFO of n_m, compressed FIFO of n_cm, rate c.
import * as tf from '@tensorflow/tfjs';
import { defineMemoryPolicy, smallestPosition } from '@engram/memory';
import type {
  LayerMemory,
  LayerWrite,
  MemoryState,
  MemoryView,
  PolicyKit,
  PolicyTelemetry,
  SegmentRecord,
  SerializedMemoryState,
} from '@engram/memory';
import { layerSeed } from './compressor-blocks.js';
import type { CompressorInput, LayerCompressor } from './compressor.js';
import { CompressionStateError, InvalidCompressorInputError } from './errors.js';
import { attentionReconstructionLoss, autoEncodingLoss, LinearDecoder, type ProjectedTarget } from './losses.js';
import { checkRestoredExtra, compressiveError, resolveCompressiveOptions } from './policy-checks.js';
import { COMPRESSIVE_KIND, compressiveTemporalRange, EXTRA_KEYS } from './policy-contract.js';
import type {
  CompressionLoss,
  CompressiveExtension,
  CompressivePolicy,
  CompressivePolicyOptions,
} from './policy-contract.js';
import { concatOptional, initialisationSeeds, modelSeedOf, planLayer, sliceSlots, slotCount } from './policy-plan.js';
import type { Entries, Lengths } from './policy-plan.js';
import { outsideTape } from './tape.js';

/**
 * A compressive memory (SPEC 3). Per layer, after each segment:
 * `old` = entries falling out of the regular FIFO of n_m; `m <- last n_m of concat(m, h)`;
 * `new_cm = f_c(old)` over whole blocks of c (the remainder waits in a buffer for the next step);
 * `cm <- last n_cm of concat(cm, new_cm)`. Attention reads `concat(cm, m)`; compressed slots sit at the floor of
 * the mean position of what they summarise, so the view is non-contiguous once compressed memory exists.
 * Temporal range `L * (n_m + c * n_cm)`.
 */
export function createCompressivePolicy(options: CompressivePolicyOptions): CompressivePolicy {
  const { memoryLength, compressedLength, evalMemoryLength, evalCompressedLength, compressor, training, seed } =
    resolveCompressiveOptions(options);
  const rate = compressor.rate;
  const needsUsage = compressor.needsUsage;
  const detachCompressed = training !== 'bptt';

  let compressors: LayerCompressor[] = [];
  let decoders: LinearDecoder[] = [];

  const lengthsFor = (record: { training: boolean }): Lengths =>
    record.training
      ? { memory: memoryLength, compressed: compressedLength }
      : { memory: evalMemoryLength, compressed: evalCompressedLength };

  const compressBlock = (layer: number, block: Entries): { hidden: tf.Tensor3D; positions: tf.Tensor2D } => {
    const compressorInput: CompressorInput = {
      hidden: block.hidden,
      positions: block.positions,
      ...(needsUsage && block.usage ? { usage: block.usage } : {}),
    };
    return (compressors[layer] as LayerCompressor).compress(compressorInput);
  };

  // Outside bptt no memory carries gradient (SPEC 2.1: regular memory is detached, and so are compressed slots), so
  // writing and reading memory run off any enclosing gradient tape: the compressed slots are constants without a
  // stop-gradient copy, and nothing is saved for a backward pass. In bptt the compressed slots stay on the tape.
  const offTapeUnlessBptt = <T>(fn: () => T): T => (detachCompressed ? outsideTape(fn) : fn());

  /**
   * The blocks the separate loss compressed, per layer memory, for `write` to store instead of compressing the same
   * block again: a step of SPEC 3 compresses once, with the compressor of that step, and the model computes the
   * separate loss before any update. An entry counts only for the segment whose layer input made it; what `write`
   * does not take is released by the next separate loss and by `dispose()`.
   */
  const compressedThisStep = new Map<LayerMemory, { input: tf.Tensor; hidden: tf.Tensor3D; positions: tf.Tensor2D }>();
  const releaseCompressedThisStep = (): void => {
    for (const entry of compressedThisStep.values()) tf.dispose([entry.hidden, entry.positions]);
    compressedThisStep.clear();
  };
  const takeCompressedThisStep = (memory: LayerMemory, input: tf.Tensor | undefined) => {
    const entry = compressedThisStep.get(memory);
    if (!entry) return undefined;
    compressedThisStep.delete(memory);
    if (entry.input === input && !entry.hidden.isDisposed) return entry;
    tf.dispose([entry.hidden, entry.positions]);
    return undefined;
  };

  const writeLayer = (memory: LayerMemory, layer: number, record: SegmentRecord, lengths: Lengths): LayerMemory => {
    const taken = takeCompressedThisStep(memory, record.layerInputs[layer]);
    const result = offTapeUnlessBptt(() => tf.tidy(() => {
      const plan = planLayer(memory, layer, record, lengths, { rate, needsUsage });
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
        const fresh = taken ?? compressBlock(layer, plan.block);
        compressedHidden = concatOptional([compressedHidden, fresh.hidden], 1) as tf.Tensor3D;
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
    }));
    if (taken) {
      const held = new Set(Object.values(result));
      for (const tensor of [taken.hidden, taken.positions]) if (!held.has(tensor)) tensor.dispose();
    }
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

  /**
   * The per-layer compression losses of SPEC 3.2, summed (`total`, a new scalar the caller owns), and with
   * `readLayers` each layer's value read to the host in one read (`perLayer`; null for layers that compressed
   * nothing). The plan of what is evicted runs off the gradient tape (memory is detached, so nothing there carries
   * gradient); only the compressor (and decoder) calls are recorded.
   */
  const compressionLosses = (
    state: MemoryState,
    record: SegmentRecord,
    kit: PolicyKit,
    readLayers: boolean,
    forWrite = false,
  ): { total: tf.Scalar; perLayer: (number | null)[] | null } | null => {
    kit.checkRecord(state, record, 'compressionLoss');
    if (training !== 'attention-reconstruction' && training !== 'auto-encoding') return null;
    if (forWrite) releaseCompressedThisStep();
    const lengths = lengthsFor(record);
    const losses: tf.Scalar[] = [];
    const lossLayers: number[] = [];
    try {
      state.layers.forEach((memory, layer) => {
        const loss = tf.tidy((): tf.Scalar | void => {
          const plan = outsideTape(() => planLayer(memory, layer, record, lengths, { rate, needsUsage }));
          if (!plan.block) return undefined;
          const block = compressBlock(layer, plan.block);
          const compressed = block.hidden;
          if (forWrite) {
            const input = record.layerInputs[layer] as tf.Tensor;
            outsideTape(() => compressedThisStep.set(memory, { input, hidden: tf.keep(tf.clone(block.hidden)), positions: tf.keep(tf.clone(block.positions)) }));
          }
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
          const projected = outsideTape(() => forwardProjectionsOf(memory, record, layer, slotCount(plan.block?.hidden)));
          return attentionReconstructionLoss(attention, queries, plan.block.hidden, compressed, projected);
        });
        if (loss) {
          losses.push(loss);
          lossLayers.push(layer);
        }
      });
      if (losses.length === 0) return null;
      const total = tf.tidy(() => (losses.length === 1 ? tf.clone(losses[0] as tf.Scalar) : tf.addN(losses)) as tf.Scalar);
      if (!readLayers) return { total, perLayer: null };
      const values = outsideTape(() => tf.tidy(() => tf.stack(losses).dataSync()));
      const perLayer: (number | null)[] = state.layers.map(() => null);
      lossLayers.forEach((layer, index) => {
        perLayer[layer] = values[index] as number;
      });
      return { total, perLayer };
    } finally {
      tf.dispose(losses);
    }
  };

  /**
   * The forward pass's projections of a layer's queries and of the block it compresses now, when the record carries
   * them and the block is rows of the forward's keys `[compressed; regular; current]`: with no buffered leftovers,
   * the block is the first `blockSlots` rows of `[regular; current]`, which start after the compressed slots. Else
   * undefined (the loss projects `h` and the block itself).
   */
  const forwardProjectionsOf = (memory: LayerMemory, record: SegmentRecord, layer: number, blockSlots: number): ProjectedTarget | undefined => {
    const projections = record.attentionProjections?.[layer];
    if (!projections || blockSlots === 0 || slotCount(memory.extra.bufferHidden) > 0) return undefined;
    const offset = slotCount(memory.extra.compressed);
    const keySlots = offset + slotCount(memory.hidden) + (record.positions.shape[1] as number);
    if (projections.keys.shape[1] !== keySlots || projections.values.shape[1] !== keySlots || offset + blockSlots > keySlots) return undefined;
    return {
      queries: projections.queries,
      keys: sliceSlots(projections.keys, offset, blockSlots),
      values: sliceSlots(projections.values, offset, blockSlots),
    };
  };

  const compressionLoss = (state: MemoryState, record: SegmentRecord, kit: PolicyKit): CompressionLoss | null => {
    const losses = compressionLosses(state, record, kit, true);
    return losses ? { total: losses.total, perLayer: losses.perLayer as (number | null)[] } : null;
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

  // The smallest position of a layer memory's view, remembered per memory object: one read of its [batch, slots]
  // positions, so the model can bound the query-key distances and attention scores a table of distances 0 .. bound
  // instead of reading its whole [batch, T, K] index back to find the distinct ones.
  const oldestPositions = new WeakMap<LayerMemory, number | null>();
  const oldestOf = (memory: LayerMemory, viewPositions: tf.Tensor2D): { oldestPosition?: number } => {
    let oldest = oldestPositions.get(memory);
    if (oldest === undefined) {
      oldest = smallestPosition(viewPositions.dataSync());
      oldestPositions.set(memory, oldest);
    }
    return oldest === null ? {} : { oldestPosition: oldest };
  };

  return defineMemoryPolicy<CompressiveExtension>({
    kind: COMPRESSIVE_KIND,
    factory: 'createCompressivePolicy',
    needsAttentionProbabilities: needsUsage,
    needsAttentionProjections: training === 'attention-reconstruction',
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
        return { hidden: compressed, positions: compressedPositions, contiguous: false, ...oldestOf(memory, compressedPositions) };
      }
      // Positions never carry gradient; see offTapeUnlessBptt for the hidden states.
      const [hidden, positions] = [memory.hidden, memory.positions];
      const viewPositions = outsideTape(() => tf.concat([compressedPositions, positions], 1));
      return {
        hidden: offTapeUnlessBptt(() => tf.concat([compressed, hidden], 1)),
        positions: viewPositions,
        contiguous: false,
        ...oldestOf(memory, viewPositions),
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

    // The model's training step reads the summed loss once (the per-layer values are only read for
    // compressionLoss()), and its write then stores the blocks compressed here.
    separateLoss: (state: MemoryState, record: SegmentRecord, kit: PolicyKit): tf.Scalar | null =>
      compressionLosses(state, record, kit, false, true)?.total ?? null,

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
      checkRestoredExtra(memory, layer, state.batchSize, kit.dimensions('deserializeState').modelDim, { rate, needsUsage });
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
      releaseCompressedThisStep();
      for (const instance of compressors) instance.dispose();
      for (const decoder of decoders) decoder.dispose();
      compressors = [];
      decoders = [];
    },
  }) as CompressivePolicy;
}
