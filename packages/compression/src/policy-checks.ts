// Pure checks of the compressive policy: its options, restored extra tensors, and skeleton failures as this package's errors.
import type * as tf from '@tensorflow/tfjs';
import type { LayerMemory, PolicyErrorDetails } from '@engram/memory';
import type { Compressor } from './compressor.js';
import {
  CompressionStateError,
  CompressorLifecycleError,
  InvalidCompressionOptionError,
  InvalidCompressorInputError,
} from './errors.js';
import { COMPRESSION_TRAINING_MODES } from './losses.js';
import type { CompressionTraining } from './losses.js';
import type { CompressivePolicyOptions } from './policy-contract.js';
import { slotCount } from './policy-plan.js';

/** The compression package's error class for a check the policy skeleton failed. */
export function compressiveError(message: string, details: PolicyErrorDetails): Error {
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

/** {@link CompressivePolicyOptions} after validation, with the defaults filled in. */
export interface ResolvedCompressiveOptions {
  memoryLength: number;
  compressedLength: number;
  evalMemoryLength: number;
  evalCompressedLength: number;
  compressor: Compressor;
  training: CompressionTraining;
  seed: number | undefined;
}

/** Validates the options of `createCompressivePolicy` and fills in the defaults; throws InvalidCompressionOptionError. */
export function resolveCompressiveOptions(options: CompressivePolicyOptions): ResolvedCompressiveOptions {
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
  return { memoryLength, compressedLength, evalMemoryLength, evalCompressedLength, compressor, training, seed };
}

/**
 * Checks the extra tensors of a restored layer (compressed FIFO, buffer, usage) against the batch, width, rate
 * and usage needs of the policy; throws CompressionStateError naming the tensor.
 */
export function checkRestoredExtra(
  memory: LayerMemory,
  layer: number,
  batchSize: number,
  modelDim: number,
  compression: { rate: number; needsUsage: boolean },
): void {
  const { rate, needsUsage } = compression;
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
