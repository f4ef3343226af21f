// The Compressor contract (v1): a compression function f_c of SPEC 3 / 3.1, its per-layer instances, and defineCompressor.
import * as tf from '@tensorflow/tfjs';
import { splitVariableName, uniqueVariableName, uniqueVariableScope } from '@engram/memory';
import {
  CompressionError,
  CompressionStateError,
  CompressorLifecycleError,
  InvalidCompressionOptionError,
  InvalidCompressorInputError,
} from './errors.js';

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

/** Per-layer seed: distinct for every (seed, layer) pair, stable across runs. */
export function layerSeed(seed: number, layer: number): number {
  return (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(layer + 1, 0x85ebca6b)) >>> 0;
}

// The variable naming helpers live in @engram/memory (every policy uses them); re-exported here for compressors.
export { splitVariableName, uniqueVariableName, uniqueVariableScope };

/** Checks that `rate` is an integer >= 1 and returns it. */
export function checkRate(factory: string, rate: unknown): number {
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1) {
    throw new InvalidCompressionOptionError({
      factory,
      option: 'rate',
      expected: 'an integer >= 1 (memories summarised by one compressed slot)',
      actual: JSON.stringify(rate),
      fix: 'The paper uses rates 2 to 4, e.g. { rate: 3 }.',
    });
  }
  return rate;
}

/** Checks an optional seed and returns it. */
export function checkSeed(factory: string, seed: unknown, option = 'seed'): number | undefined {
  if (seed === undefined) return undefined;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new InvalidCompressionOptionError({
      factory,
      option,
      expected: 'an integer (or omitted for a random initialisation)',
      actual: JSON.stringify(seed),
    });
  }
  return seed;
}

function shapeText(tensor: tf.Tensor): string {
  return `${tensor.dtype} [${tensor.shape.join(', ')}]`;
}

/**
 * Validates an evicted block for a compressor of rate `rate` and width `modelDim`: hidden float32
 * `[batch, n, modelDim]` with n a positive multiple of the rate, positions int32 `[batch, n]`, and usage
 * float32 `[batch, n]` when `needsUsage`. Throws {@link InvalidCompressorInputError} naming the problem.
 */
export function validateCompressorInput(
  operation: string,
  input: CompressorInput,
  expected: { rate: number; modelDim: number; needsUsage: boolean },
): void {
  const { hidden, positions, usage } = input ?? ({} as CompressorInput);
  if (!(hidden instanceof tf.Tensor) || hidden.rank !== 3 || hidden.dtype !== 'float32') {
    throw new InvalidCompressorInputError({
      operation,
      parameter: 'hidden',
      expected: `a float32 tensor [batch, n, ${expected.modelDim}]`,
      actual: hidden instanceof tf.Tensor ? shapeText(hidden) : String(hidden),
    });
  }
  const [batch, length, width] = hidden.shape;
  if (width !== expected.modelDim) {
    throw new InvalidCompressorInputError({
      operation,
      parameter: 'hidden',
      expected: `[batch, n, ${expected.modelDim}] (the model width this compressor was built for)`,
      actual: `[${hidden.shape.join(', ')}]`,
    });
  }
  if (length === 0 || length % expected.rate !== 0) {
    throw new InvalidCompressorInputError({
      operation,
      parameter: 'hidden',
      expected: `a block whose length (axis 1) is a positive multiple of the compression rate ${expected.rate}`,
      actual: `length ${length} (shape [${hidden.shape.join(', ')}])`,
      fix: `Pass whole blocks of ${expected.rate} memories; the compressive policy keeps the remainder in a buffer until a block is full.`,
    });
  }
  if (!(positions instanceof tf.Tensor) || positions.dtype !== 'int32' || positions.rank !== 2) {
    throw new InvalidCompressorInputError({
      operation,
      parameter: 'positions',
      expected: `an int32 tensor [${batch}, ${length}]`,
      actual: positions instanceof tf.Tensor ? shapeText(positions) : String(positions),
    });
  }
  if (positions.shape[0] !== batch || positions.shape[1] !== length) {
    throw new InvalidCompressorInputError({
      operation,
      parameter: 'positions',
      expected: `int32 [${batch}, ${length}] (one position per memory of hidden)`,
      actual: shapeText(positions),
    });
  }
  if (expected.needsUsage) {
    if (!(usage instanceof tf.Tensor) || usage.dtype !== 'float32' || usage.rank !== 2) {
      throw new InvalidCompressorInputError({
        operation,
        parameter: 'usage',
        expected: `a float32 tensor [${batch}, ${length}] (this compressor ranks memories by attention usage)`,
        actual: usage instanceof tf.Tensor ? shapeText(usage) : String(usage),
        fix: 'The compressive policy supplies usage itself; when calling compress() directly, pass usage.',
      });
    }
    if (usage.shape[0] !== batch || usage.shape[1] !== length) {
      throw new InvalidCompressorInputError({
        operation,
        parameter: 'usage',
        expected: `float32 [${batch}, ${length}]`,
        actual: shapeText(usage),
      });
    }
  }
}

/**
 * Position of each compressed slot: the floor of the mean position of the `rate` memories it summarises (SPEC 3).
 * Exact for any int32 position: the mean is taken of the offsets from each block's first position (small integers),
 * because integer division on some backends (wasm) goes through float32 and rounds large sums.
 * @param positions int32 `[batch, n]`, n a multiple of `rate`, non-decreasing inside each block
 * @returns int32 `[batch, n / rate]`
 */
export function blockMeanPositions(positions: tf.Tensor2D, rate: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, length] = positions.shape;
    const blocks = tf.reshape(positions, [batch, length / rate, rate]);
    const first = tf.slice(blocks, [0, 0, 0], [-1, -1, 1]);
    const offsets = tf.sum(tf.sub(blocks, first), 2);
    const meanOffset = tf.floorDiv(offsets, tf.scalar(rate, 'int32'));
    return tf.add(tf.reshape(first, [batch, length / rate]), meanOffset) as tf.Tensor2D;
  });
}

/**
 * Reshapes an evicted block into its compression blocks.
 * @param hidden `[batch, n, dim]`, n a multiple of `rate`
 * @returns `[batch, n / rate, rate, dim]`
 */
export function toBlocks(hidden: tf.Tensor3D, rate: number): tf.Tensor4D {
  const [batch, length, width] = hidden.shape;
  return tf.reshape(hidden, [batch, length / rate, rate, width]);
}

/**
 * Makes a {@link Compressor} from a {@link CompressorDefinition}: every built layer validates its input,
 * checks the output against the contract, names its variables stably, and implements weights I/O and disposal.
 * The five built-ins are written with it; so can yours.
 */
export function defineCompressor(definition: CompressorDefinition): Compressor {
  const factory = `defineCompressor(${JSON.stringify(definition?.kind)})`;
  if (typeof definition?.kind !== 'string' || definition.kind.length === 0) {
    throw new InvalidCompressionOptionError({
      factory: 'defineCompressor',
      option: 'kind',
      expected: 'a non-empty string naming the compressor',
      actual: JSON.stringify(definition?.kind),
    });
  }
  const rate = checkRate(factory, definition.rate);
  const seed = checkSeed(factory, definition.seed);
  if (typeof definition.build !== 'function') {
    throw new InvalidCompressionOptionError({
      factory,
      option: 'build',
      expected: 'a function (context) => ({ compress })',
      actual: typeof definition.build,
    });
  }
  const needsUsage = definition.needsUsage ?? false;
  const trainable = definition.trainable ?? false;
  const kind = definition.kind;

  return {
    specificationVersion: 'v1',
    kind,
    rate,
    needsUsage,
    trainable,
    config: () => ({ kind, rate, ...(definition.config ?? {}) }),
    build(options: CompressorBuildOptions): LayerCompressor {
      const { modelDim, layer } = options ?? ({} as CompressorBuildOptions);
      if (!Number.isInteger(modelDim) || modelDim < 1) {
        throw new InvalidCompressionOptionError({
          factory: `${kind} compressor build()`,
          option: 'modelDim',
          expected: 'an integer >= 1',
          actual: JSON.stringify(modelDim),
        });
      }
      if (!Number.isInteger(layer) || layer < 0) {
        throw new InvalidCompressionOptionError({
          factory: `${kind} compressor build()`,
          option: 'layer',
          expected: 'an integer >= 0',
          actual: JSON.stringify(layer),
        });
      }
      const { namePrefix, defaultSeed } = options;
      if (namePrefix !== undefined && (typeof namePrefix !== 'string' || namePrefix.length === 0 || namePrefix.endsWith('/'))) {
        throw new InvalidCompressionOptionError({
          factory: `${kind} compressor build()`,
          option: 'namePrefix',
          expected: 'a non-empty string "<unique scope>/<stable prefix>" not ending in "/" (or omitted)',
          actual: JSON.stringify(namePrefix),
        });
      }
      const baseSeed = seed ?? checkSeed(`${kind} compressor build()`, defaultSeed, 'defaultSeed');
      const prefix = namePrefix ?? `${uniqueVariableScope(kind)}/layers.${layer}`;
      const named = new Map<string, tf.Variable>();
      const context: CompressorBuildContext = {
        modelDim,
        layer,
        rate,
        seed: baseSeed === undefined ? Math.floor(Math.random() * 0x7fffffff) : layerSeed(baseSeed, layer),
        variable(name: string, initialValue: tf.Tensor): tf.Variable {
          if (typeof name !== 'string' || name.length === 0 || name.includes('/')) {
            if (initialValue instanceof tf.Tensor) initialValue.dispose();
            throw new InvalidCompressionOptionError({
              factory: `${kind} compressor (layer ${layer}) variable()`,
              option: 'name',
              expected: 'a non-empty name without "/" (it is the stable part of the tfjs name, e.g. "weight" or "conv0.bias")',
              actual: JSON.stringify(name),
              fix: 'Use "." to structure names.',
            });
          }
          if (named.has(name)) {
            if (initialValue instanceof tf.Tensor) initialValue.dispose();
            throw new CompressorLifecycleError(
              `${kind} compressor (layer ${layer}): variable "${name}" was created twice; give each variable its own name.`,
            );
          }
          const variable = tf.variable(initialValue, true, uniqueVariableName(`${prefix}.${name}`));
          initialValue.dispose();
          named.set(name, variable);
          return variable;
        },
      };
      let implementation: CompressorImplementation;
      try {
        implementation = definition.build(context);
      } catch (error) {
        for (const variable of named.values()) variable.dispose();
        throw error;
      }
      if (trainable !== named.size > 0) {
        for (const variable of named.values()) variable.dispose();
        throw new CompressorLifecycleError(
          `${kind} compressor: declared trainable: ${trainable} but build() created ${named.size} variable(s). ` +
            'Set trainable: true exactly when build() calls context.variable().',
        );
      }
      const operation = `${kind} compressor (layer ${layer})`;
      let disposed = false;
      const alive = (method: string): void => {
        if (disposed) {
          throw new CompressorLifecycleError(`${operation}: ${method}() was called after dispose().`);
        }
      };
      return {
        layer,
        rate,
        needsUsage,
        compress(input: CompressorInput): CompressorOutput {
          alive('compress');
          validateCompressorInput(operation, input, { rate, modelDim, needsUsage });
          const result = implementation.compress(input);
          const output: CompressorOutput =
            result instanceof tf.Tensor
              ? { hidden: result as tf.Tensor3D, positions: blockMeanPositions(input.positions, rate) }
              : result;
          try {
            checkOutput(operation, input, output, rate);
          } catch (error) {
            for (const tensor of [output?.hidden, output?.positions]) {
              if (tensor instanceof tf.Tensor && tensor !== input.hidden && tensor !== input.positions) tensor.dispose();
            }
            throw error;
          }
          return output;
        },
        variables: () => [...named.values()],
        getWeights(): Record<string, tf.Tensor> {
          alive('getWeights');
          const weights: Record<string, tf.Tensor> = {};
          for (const [name, variable] of named) weights[name] = tf.clone(variable);
          return weights;
        },
        setWeights(weights: Readonly<Record<string, tf.Tensor>>): void {
          alive('setWeights');
          assignWeights(operation, named, weights);
        },
        dispose(): void {
          if (disposed) return;
          disposed = true;
          for (const variable of named.values()) variable.dispose();
        },
      };
    },
  };
}

function checkOutput(operation: string, input: CompressorInput, output: CompressorOutput, rate: number): void {
  const [batch, length, width] = input.hidden.shape;
  const slots = length / rate;
  const hidden = output?.hidden;
  const positions = output?.positions;
  const okHidden =
    hidden instanceof tf.Tensor &&
    hidden.dtype === 'float32' &&
    hidden.rank === 3 &&
    hidden.shape[0] === batch &&
    hidden.shape[1] === slots &&
    hidden.shape[2] === width;
  const okPositions =
    positions instanceof tf.Tensor &&
    positions.dtype === 'int32' &&
    positions.rank === 2 &&
    positions.shape[0] === batch &&
    positions.shape[1] === slots;
  if (!okHidden || !okPositions) {
    throw new CompressionError(
      `${operation}: compress() broke the Compressor contract: expected hidden float32 [${batch}, ${slots}, ${width}] ` +
        `and positions int32 [${batch}, ${slots}], got hidden ${hidden instanceof tf.Tensor ? shapeText(hidden) : String(hidden)} ` +
        `and positions ${positions instanceof tf.Tensor ? shapeText(positions) : String(positions)}. Return one slot per block of ${rate} memories.`,
    );
  }
}

/** Assigns `weights` to the named variables after checking that names and shapes match exactly. */
export function assignWeights(
  operation: string,
  named: ReadonlyMap<string, tf.Variable>,
  weights: Readonly<Record<string, tf.Tensor>>,
): void {
  const expectedNames = [...named.keys()].sort();
  const givenNames = Object.keys(weights ?? {}).sort();
  const missing = expectedNames.filter((name) => !(name in (weights ?? {})));
  const unexpected = givenNames.filter((name) => !named.has(name));
  if (missing.length > 0 || unexpected.length > 0) {
    const key = missing[0] ?? unexpected[0] ?? '';
    throw new CompressionStateError(
      key,
      `${operation}: setWeights() expects exactly the tensors [${expectedNames.join(', ')}], ` +
        `got [${givenNames.join(', ')}]` +
        (missing.length > 0 ? `; missing ${missing.join(', ')}` : '') +
        (unexpected.length > 0 ? `; unexpected ${unexpected.join(', ')}` : '') +
        '. Pass what getWeights() of the same compressor kind returned.',
    );
  }
  for (const [name, variable] of named) {
    const value = weights[name] as tf.Tensor;
    const sameShape = value.shape.length === variable.shape.length && value.shape.every((size, axis) => size === variable.shape[axis]);
    if (!sameShape || value.dtype !== variable.dtype) {
      throw new CompressionStateError(
        name,
        `${operation}: weight "${name}" must be ${variable.dtype} [${variable.shape.join(', ')}], got ${shapeText(value)}. ` +
          'Was it saved from a compressor with another rate or model width?',
      );
    }
  }
  for (const [name, variable] of named) variable.assign(weights[name] as tf.Tensor);
}
