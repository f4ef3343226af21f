// Error classes of @engram/compression: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, namedError, withOptionProblem, withParameterProblem } from '@engram/core';

/** Base class of every error thrown by @engram/compression. */
export class CompressionError extends EngramError {
  override name = 'CompressionError';
}

/**
 * An option of a factory (`createConvCompressor`, `createCompressivePolicy`, ...) is out of range.
 * The message names the option, what was expected, what was received, and how to fix it.
 */
export class InvalidCompressionOptionError extends namedError(withOptionProblem(CompressionError), 'InvalidCompressionOptionError') {}

/**
 * A tensor handed to a compressor or to the compressive policy has the wrong shape or dtype, e.g. an evicted
 * block whose length is not a multiple of the compression rate.
 */
export class InvalidCompressorInputError extends namedError(withParameterProblem(CompressionError), 'InvalidCompressorInputError') {}

/** A compressor is used in a way its life cycle does not allow (not built, disposed, built twice for a layer). */
export class CompressorLifecycleError extends namedError(CompressionError, 'CompressorLifecycleError') {}

/** Saved compressor weights or a saved compressive memory state do not match what is being restored. */
export class CompressionStateError extends namedError(CompressionError, 'CompressionStateError') {
  /** The tensor name or metadata key that does not match, e.g. `layers.0.weight`. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.key = key;
  }
}
