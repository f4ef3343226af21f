// Pure checks of the Compressor contract: rate and seed options, a compressor's input block and its output.
import * as tf from '@tensorflow/tfjs';
import type { CompressorInput, CompressorOutput } from './compressor.js';
import { CompressionError, InvalidCompressionOptionError, InvalidCompressorInputError } from './errors.js';

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

/** `dtype [shape]` of a tensor, for error messages. */
export function shapeText(tensor: tf.Tensor): string {
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

/** Checks a compressor's output against the contract: hidden float32 `[batch, n / rate, D]`, positions int32 `[batch, n / rate]`. */
export function checkOutput(operation: string, input: CompressorInput, output: CompressorOutput, rate: number): void {
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
