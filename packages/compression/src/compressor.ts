// The Compressor contract (v1): a compression function f_c of SPEC 3 / 3.1, its per-layer instances, and the parts defineCompressor takes.
import type * as tf from '@tensorflow/tfjs';

/** What {@link Compressor.build} receives: the layer a per-layer instance is for. */
export interface CompressorBuildOptions {
  /** Model width D: compressed slots have the same width as memories. */
  modelDim: number;
  /** Layer index (0-based). Each layer gets its own instance with its own parameters (SPEC 3). */
  layer: number;
  /**
   * Prefix of the tfjs variable names of this instance, variables are named `{namePrefix}.{name}`, following the
   * model's convention `<unique scope>/<stable name>`. Default `{kind}{N}/layers.{layer}` with a scope no live
   * variable uses; the compressive policy passes `compressive{N}/compressor.layers.{layer}`. Should a live
   * variable already hold a name, the scope (the part before the last `/`) gets a suffix, never the stable name
   * ({@link uniqueVariableName}), so the names `@engram/model` saves are the same in every process.
   */
  namePrefix?: string;
  /**
   * Base seed used when the compressor has no seed of its own (a compressor's own `seed` wins). The compressive
   * policy derives one from the model's seed when the model has one; without either, initialisation is random.
   */
  defaultSeed?: number;
}

/** The evicted block handed to {@link LayerCompressor.compress}. */
export interface CompressorInput {
  /** Evicted memories, oldest first, `[batch, n, modelDim]`; n is a positive multiple of the rate. */
  hidden: tf.Tensor3D;
  /** Their absolute stream positions, int32 `[batch, n]` (increasing along the slot axis). */
  positions: tf.Tensor2D;
  /**
   * Attention usage of each evicted memory, float32 `[batch, n]` (SPEC 3.1 `most-used`); given only to
   * compressors that declare {@link Compressor.needsUsage}.
   */
  usage?: tf.Tensor2D;
}

/** The compressed block returned by {@link LayerCompressor.compress}. */
export interface CompressorOutput {
  /** Compressed memories, oldest first, `[batch, n / rate, modelDim]`. */
  hidden: tf.Tensor3D;
  /**
   * Their positions, int32 `[batch, n / rate]`, non-decreasing, each within the positions of the block
   * (the built-ins: floor of the mean position of the summarised tokens; `most-used`: the kept memories' own).
   */
  positions: tf.Tensor2D;
}

/**
 * One layer's compression function f_c^l with its own parameters (made by {@link Compressor.build}).
 * `compress` may be called inside a gradient scope: gradients reach {@link variables} through its output.
 */
export interface LayerCompressor {
  /** Layer this instance was built for. */
  readonly layer: number;
  /** Compression rate c: `compress` maps n memories to n / c. */
  readonly rate: number;
  /** Whether `compress` needs `input.usage`. */
  readonly needsUsage: boolean;
  /** Compresses an evicted block. Returns new tensors owned by the caller; never disposes its inputs. */
  compress(input: CompressorInput): CompressorOutput;
  /** Trainable variables of this layer's f_c (empty for pooling and most-used). */
  variables(): tf.Variable[];
  /** The variables as named tensors (stable names such as `weight`, `bias`); fresh copies owned by the caller. */
  getWeights(): Record<string, tf.Tensor>;
  /** Assigns the variables from named tensors as produced by `getWeights()` (names and shapes must match). */
  setWeights(weights: Readonly<Record<string, tf.Tensor>>): void;
  /** Disposes the variables. */
  dispose(): void;
}

/**
 * A compression function of SPEC 3.1, as handed to `createCompressivePolicy`: a blueprint that makes one
 * independent {@link LayerCompressor} per layer (`build({ modelDim, layer })`), so passing ONE compressor
 * to the policy gives every layer its own parameters. Built-ins come from `createMaxPoolCompressor`,
 * `createMeanPoolCompressor`, `createConvCompressor`, `createDilatedConvCompressor` and
 * `createMostUsedCompressor`; write your own with {@link defineCompressor} or by implementing this interface.
 */
export interface Compressor {
  readonly specificationVersion: 'v1';
  /** Short identifier, e.g. `conv`, `max-pool`. */
  readonly kind: string;
  /** Compression rate c (an integer >= 1). */
  readonly rate: number;
  /** Whether `compress` needs attention usage statistics (the policy then asks the model for attention probabilities). */
  readonly needsUsage: boolean;
  /** Whether `build` creates trainable variables (decides the policy's default training mode). */
  readonly trainable: boolean;
  /** Creates the f_c of one layer, with its own parameters. */
  build(options: CompressorBuildOptions): LayerCompressor;
  /** JSON-safe options that recreate this compressor (saved with the policy config). */
  config(): Record<string, unknown>;
}

/** What the `build` function of a {@link CompressorDefinition} receives. */
export interface CompressorBuildContext {
  modelDim: number;
  layer: number;
  rate: number;
  /**
   * Seed for this layer's initialisers: derived from the definition's `seed` (else the build's `defaultSeed`) and
   * the layer index, so layers differ and rebuilding gives identical parameters; a random integer when neither
   * is given.
   */
  seed: number;
  /**
   * Creates a trainable variable under a stable name (used by `getWeights`/`setWeights` and in the tfjs name
   * `{namePrefix}.{name}`); the name must be non-empty and contain no `/`. Takes ownership of `initialValue`
   * (it is disposed once copied into the variable, or when the name is rejected).
   */
  variable(name: string, initialValue: tf.Tensor): tf.Variable;
}

/** What the `build` function of a {@link CompressorDefinition} returns. */
export interface CompressorImplementation {
  /**
   * The compression itself. The input is already validated (shapes, dtypes, multiple of the rate). Return the
   * compressed memories `[batch, n / rate, modelDim]` (shape and dtype are checked), or memories and positions;
   * when only memories are returned, positions are the floor of each block's mean position
   * ({@link blockMeanPositions}).
   */
  compress(input: CompressorInput): tf.Tensor | CompressorOutput;
}

/** A compressor described by its parts; {@link defineCompressor} adds validation, weights I/O and disposal. */
export interface CompressorDefinition {
  kind: string;
  rate: number;
  /** Default false. */
  needsUsage?: boolean;
  /** Whether `build` creates variables (default false). Must agree with what `build` does. */
  trainable?: boolean;
  /** Base seed of the initialisers (see {@link CompressorBuildContext.seed}). */
  seed?: number;
  /** JSON-safe options that recreate the compressor; `kind` and `rate` are added. */
  config?: Record<string, unknown>;
  build(context: CompressorBuildContext): CompressorImplementation;
}
