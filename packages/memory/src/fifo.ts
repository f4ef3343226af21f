// The FIFO memory policy of Transformer-XL (SPEC 2.1): every layer keeps the last M of its layer inputs.
import type * as tf from '@tensorflow/tfjs';
import { MemoryPolicyError } from './errors.js';
import type {
  MemoryPolicy,
  MemoryState,
  MemoryView,
  ModelDimensions,
  PolicyTelemetry,
  SegmentRecord,
  SerializedMemoryState,
} from './policy.js';
import { appendToMemory, deserializeLayers, emptyLayerMemory, serializeLayers } from './state.js';

/** Options of {@link createFifoPolicy}. */
export interface FifoPolicyOptions {
  /** Memory slots per layer kept during training (M). 0 means no memory (a vanilla transformer). */
  memoryLength: number;
  /** Memory slots per layer kept in evaluation (`record.training === false`); defaults to `memoryLength`. */
  evalMemoryLength?: number;
}

/** The FIFO policy's kind. */
export const FIFO_KIND = 'fifo';

/**
 * Transformer-XL memory: after each segment, `m^l <- last M of concat(m^l, h^l)` for every
 * layer (M = `memoryLength` when training, `evalMemoryLength` in evaluation). Memory positions
 * are always the `M` positions just before the current segment, so attention uses the
 * rel-shift path. No variables, no auxiliary loss.
 */
export function createFifoPolicy(options: FifoPolicyOptions): MemoryPolicy {
  const memoryLength = checkLength('memoryLength', options?.memoryLength);
  const evalMemoryLength =
    options?.evalMemoryLength === undefined ? memoryLength : checkLength('evalMemoryLength', options.evalMemoryLength);
  let dimensions: ModelDimensions | null = null;

  const built = (method: string): ModelDimensions => {
    if (!dimensions) {
      throw new MemoryPolicyError(
        `fifo policy: ${method}() was called before build(). The model calls build() when the policy is passed to it; call policy.build({ numLayers, modelDim, numHeads, segmentLength }) yourself when using the policy alone.`,
      );
    }
    return dimensions;
  };

  const policy: MemoryPolicy = {
    specificationVersion: 'v1',
    kind: FIFO_KIND,
    needsAttentionProbabilities: false,

    build(next: ModelDimensions): void {
      if (!Number.isInteger(next?.numLayers) || next.numLayers < 1) {
        throw new MemoryPolicyError(`fifo policy: build() needs numLayers >= 1, got ${next?.numLayers}.`);
      }
      if (dimensions && dimensions.numLayers !== next.numLayers) {
        throw new MemoryPolicyError(
          `fifo policy: already built for ${dimensions.numLayers} layers, now asked for ${next.numLayers}. Create one policy per model.`,
        );
      }
      dimensions = { ...next };
    },

    initialState(batchSize: number): MemoryState {
      const { numLayers } = built('initialState');
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new MemoryPolicyError(`fifo policy: initialState(batchSize) needs an integer >= 1, got ${batchSize}.`);
      }
      return { layers: Array.from({ length: numLayers }, emptyLayerMemory), tokensSeen: 0, batchSize };
    },

    read(state: MemoryState, layer: number): MemoryView {
      const memory = state.layers[layer];
      if (!memory) {
        throw new MemoryPolicyError(
          `fifo policy: read(state, ${layer}) is out of range; the state has ${state.layers.length} layers.`,
        );
      }
      return { hidden: memory.hidden, positions: memory.positions, contiguous: true };
    },

    write(state: MemoryState, record: SegmentRecord): MemoryState {
      const { numLayers } = built('write');
      if (record.layerInputs.length !== numLayers || state.layers.length !== numLayers) {
        throw new MemoryPolicyError(
          `fifo policy: write() expects ${numLayers} layers, got a state of ${state.layers.length} and ${record.layerInputs.length} layer inputs.`,
        );
      }
      const keep = record.training ? memoryLength : evalMemoryLength;
      const segmentLength = record.positions.shape[1];
      const layers = state.layers.map((memory, index) => {
        const input = record.layerInputs[index] as tf.Tensor3D;
        const appended = appendToMemory(memory.hidden, memory.positions, input, record.positions, keep);
        if (appended.evicted) {
          appended.evicted.hidden.dispose();
          appended.evicted.positions.dispose();
        }
        return { hidden: appended.hidden, positions: appended.positions, extra: {} };
      });
      return { layers, tokensSeen: state.tokensSeen + segmentLength, batchSize: state.batchSize };
    },

    variables: () => [],
    separateVariables: () => [],

    temporalRange(numLayers: number): number {
      return numLayers * memoryLength;
    },

    telemetry(state: MemoryState): PolicyTelemetry {
      return { memorySlots: state.layers.map((memory) => memory.hidden?.shape[1] ?? 0), perLayer: {} };
    },

    config(): Record<string, unknown> {
      return { kind: FIFO_KIND, memoryLength, evalMemoryLength };
    },

    serializeState(state: MemoryState): SerializedMemoryState {
      return serializeLayers(state, { kind: FIFO_KIND, specificationVersion: 'v1' });
    },

    deserializeState(serialized: SerializedMemoryState): MemoryState {
      const { numLayers } = built('deserializeState');
      return deserializeLayers(serialized, { kind: FIFO_KIND, numLayers });
    },

    dispose(): void {},
  };
  return policy;
}

function checkLength(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new MemoryPolicyError(
      `createFifoPolicy: ${name} must be an integer >= 0 (memory slots per layer), got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}
