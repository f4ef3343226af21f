// defineCompressor: a Compressor from its parts, with validated input and output, stable variable names and weights I/O.
import * as tf from '@tensorflow/tfjs';
import { uniqueVariableName, uniqueVariableScope } from '@engram/memory';
import { blockMeanPositions, layerSeed } from './compressor-blocks.js';
import { checkOutput, checkRate, checkSeed, shapeText, validateCompressorInput } from './compressor-checks.js';
import type {
  Compressor,
  CompressorBuildContext,
  CompressorBuildOptions,
  CompressorDefinition,
  CompressorImplementation,
  CompressorInput,
  CompressorOutput,
  LayerCompressor,
} from './compressor.js';
import { CompressionStateError, CompressorLifecycleError, InvalidCompressionOptionError } from './errors.js';

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
