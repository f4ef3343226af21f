// Test support (not exported): the tests' small model, synthetic SegmentRecords and a plain-array simulator of the compressive memory rules of SPEC 3.
import * as tf from '@tensorflow/tfjs';
import type { ContentAttention, MemoryState, SegmentRecord } from '@engram/memory';
import type { ModelConfig } from '@engram/model';

/** The model the tests run compressive policies in: two layers of width 8 (2 heads), segments of 4 tokens, vocabulary 12. */
export const TEST_MODEL_CONFIG: ModelConfig = Object.freeze({
  vocabSize: 12,
  modelDim: 8,
  numHeads: 2,
  numLayers: 2,
  feedForwardDim: 16,
  segmentLength: 4,
  seed: 3,
});

/** Value of channel d of the layer input at (layer, row, position): distinct, smooth, reproducible. */
export function inputValue(layer: number, row: number, position: number, channel: number): number {
  return Math.fround(Math.sin(0.37 * position + 1.3 * channel + 2.1 * layer + 0.7 * row) + 0.01 * position);
}

/** Layer input `[batch, T, D]` of one layer for the segment starting at `start`. */
export function layerInput(layer: number, batch: number, start: number, length: number, width: number): tf.Tensor3D {
  const values = new Float32Array(batch * length * width);
  for (let row = 0; row < batch; row++) {
    for (let t = 0; t < length; t++) {
      for (let d = 0; d < width; d++) values[(row * length + t) * width + d] = inputValue(layer, row, start + t, d);
    }
  }
  return tf.tensor3d(values, [batch, length, width]);
}

/** A one-head content attention with its own projection variables (a stand-in for a model layer's). */
export interface TestAttention {
  /** The plain function (no `forQueries`). */
  attention: ContentAttention;
  /** The same attention offering `forQueries` (the queries projected once). */
  shared: ContentAttention;
  /**
   * The shared form whose prepared queries also offer `attendWithGradient` (output, then the vector-Jacobian product
   * of `attend` with the upstream gradient by `tf.grad`; the hand-written backward passes of the real attentions are
   * tested in @engram/attention and @engram/model).
   */
  withGradient: ContentAttention;
  /** How often each form projected queries: `plain` per call, `shared` per `forQueries` (also `withGradient`'s). */
  queryProjections: { plain: number; shared: number };
  /** How often `withGradient`'s `attendWithGradient` ran. */
  gradientCalls: { attendWithGradient: number };
  variables: tf.Variable[];
  dispose(): void;
}

let attentionCounter = 0;

/** `A(h, x) = softmax((h Wq)(x Wk)^T / sqrt(D)) (x Wv)` with seeded projection variables `[D, D]`. */
export function createTestAttention(width: number, seed: number): TestAttention {
  const scope = `test-attention${++attentionCounter}`;
  const variables = ['query', 'key', 'value'].map((name, index) => {
    const initial = tf.randomNormal([width, width], 0, 1 / Math.sqrt(width), 'float32', seed + index);
    const variable = tf.variable(initial, true, `${scope}/${name}`);
    initial.dispose();
    return variable;
  });
  const [query, key, value] = variables as [tf.Variable, tf.Variable, tf.Variable];
  const queryProjections = { plain: 0, shared: 0 };
  const project = (x: tf.Tensor3D, weight: tf.Tensor): tf.Tensor3D => {
    const [batch, length] = x.shape;
    return tf.reshape(tf.matMul(tf.reshape(x, [batch * length, width]), weight), [batch, length, width]);
  };
  const fromQueries = (q: tf.Tensor3D, keyValueInput: tf.Tensor3D): tf.Tensor3D =>
    tf.tidy(() => {
      const scores = tf.div(tf.matMul(q, project(keyValueInput, key), false, true), Math.sqrt(width));
      return tf.matMul(tf.softmax(scores), project(keyValueInput, value)) as tf.Tensor3D;
    });
  const attention: ContentAttention = (queryInput, keyValueInput) =>
    tf.tidy(() => {
      queryProjections.plain++;
      return fromQueries(project(queryInput, query), keyValueInput);
    });
  const shared: ContentAttention = Object.assign((queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D) => attention(queryInput, keyValueInput), {
    forQueries: (queryInput: tf.Tensor3D) => {
      queryProjections.shared++;
      const q = tf.tidy(() => tf.keep(project(queryInput, query)));
      return { attend: (keyValueInput: tf.Tensor3D) => fromQueries(q, keyValueInput), dispose: () => q.dispose() };
    },
  });
  const gradientCalls = { attendWithGradient: 0 };
  const withGradient: ContentAttention = Object.assign((queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D) => attention(queryInput, keyValueInput), {
    forQueries: (queryInput: tf.Tensor3D) => {
      const bound = shared.forQueries!(queryInput);
      return {
        ...bound,
        attendWithGradient: (keyValueInput: tf.Tensor3D, outputGradient: (output: tf.Tensor3D) => tf.Tensor3D) =>
          tf.tidy(() => {
            gradientCalls.attendWithGradient++;
            const output = bound.attend(keyValueInput);
            const upstream = outputGradient(output);
            const keyValueGradient = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(bound.attend(x as tf.Tensor3D), upstream)))(keyValueInput) as tf.Tensor3D;
            return { output, keyValueGradient };
          }),
      };
    },
  });
  return {
    attention,
    shared,
    withGradient,
    queryProjections,
    gradientCalls,
    variables,
    dispose: () => {
      for (const variable of variables) variable.dispose();
    },
  };
}

/** Options of {@link makeRecord}. */
export interface RecordOptions {
  numLayers: number;
  batch: number;
  segmentLength: number;
  width: number;
  /** Stream position of the first token of the segment (`state.tokensSeen`). */
  start: number;
  training?: boolean;
  attention?: ContentAttention[];
  /** Per layer, attention probabilities `[batch, heads, T, keys]` (made by the caller). */
  probabilities?: tf.Tensor4D[];
}

/** A SegmentRecord with deterministic layer inputs; `disposeRecord` frees it. */
export function makeRecord(options: RecordOptions): SegmentRecord {
  const { numLayers, batch, segmentLength, width, start } = options;
  const positions = tf.tensor2d(
    Array.from({ length: batch }, () => Array.from({ length: segmentLength }, (_, t) => start + t)),
    undefined,
    'int32',
  );
  const layerInputs = Array.from({ length: numLayers }, (_, layer) =>
    layerInput(layer, batch, start, segmentLength, width),
  );
  const unused: ContentAttention = () => {
    throw new Error('this record has no content attention');
  };
  return {
    layerInputs,
    positions,
    ...(options.probabilities ? { attentionProbabilities: options.probabilities } : {}),
    contentAttention: options.attention ?? Array.from({ length: numLayers }, () => unused),
    training: options.training ?? true,
  };
}

export function disposeRecord(record: SegmentRecord): void {
  tf.dispose([...record.layerInputs, record.positions, ...(record.attentionProbabilities ?? [])]);
}

/** One remembered token in the simulator: its position and (for most-used) its usage statistics. */
export interface SimulatedToken {
  position: number;
  usageSum: number;
  usageCount: number;
}

/** One compressed slot in the simulator: the positions it summarises and its own position. */
export interface SimulatedSlot {
  sources: number[];
  position: number;
}

/**
 * The compressive memory rules of SPEC 3 on plain arrays, for one layer and one batch row:
 * FIFO of `memoryLength`, evicted tokens queue in a buffer, every whole block of `rate` becomes one slot chosen by
 * `choose` (pooling: all of the block; most-used: the best `rate`-th of the evicted run), compressed FIFO of
 * `compressedLength`.
 */
export class MemorySimulator {
  regular: SimulatedToken[] = [];
  buffer: SimulatedToken[] = [];
  compressed: SimulatedSlot[] = [];

  constructor(
    readonly memoryLength: number,
    readonly compressedLength: number,
    readonly rate: number,
    readonly mode: 'pool' | 'most-used' = 'pool',
  ) {}

  /**
   * Advances by one segment.
   * @param positions the segment's positions
   * @param received per current regular token, attention probability received this step (most-used)
   */
  step(positions: number[], received?: number[]): void {
    this.regular.forEach((token, index) => {
      token.usageSum += received?.[index] ?? 0;
      token.usageCount += positions.length;
    });
    const all = [...this.regular, ...positions.map((position) => ({ position, usageSum: 0, usageCount: 0 }))];
    const dropped = Math.max(0, all.length - this.memoryLength);
    const evicted = all.slice(0, dropped);
    this.regular = all.slice(dropped);
    if (this.compressedLength === 0) {
      this.buffer = [];
      return;
    }
    const pending = [...this.buffer, ...evicted];
    if (evicted.length === 0) return;
    const whole = Math.floor(pending.length / this.rate) * this.rate;
    const block = pending.slice(0, whole);
    this.buffer = pending.slice(whole);
    if (this.mode === 'pool') {
      for (let start = 0; start < whole; start += this.rate) {
        const sources = block.slice(start, start + this.rate).map((token) => token.position);
        const sum = sources.reduce((a, b) => a + b, 0);
        this.compressed.push({ sources, position: Math.floor(sum / this.rate) });
      }
    } else {
      const usage = block.map((token, index) => ({
        index,
        usage: token.usageCount > 0 ? token.usageSum / token.usageCount : 0,
      }));
      usage.sort((a, b) => b.usage - a.usage || a.index - b.index);
      const chosen = usage
        .slice(0, whole / this.rate)
        .map((entry) => entry.index)
        .sort((a, b) => a - b);
      for (const index of chosen) {
        const position = (block[index] as SimulatedToken).position;
        this.compressed.push({ sources: [position], position });
      }
    }
    this.compressed = this.compressed.slice(Math.max(0, this.compressed.length - this.compressedLength));
  }
}
