// Error classes of @engram/compression: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError } from '@engram/core';

/** Base class of every error thrown by @engram/compression. */
export class CompressionError extends EngramError {
  override name = 'CompressionError';
}

/**
 * An option of a factory (`createConvCompressor`, `createCompressivePolicy`, ...) is out of range.
 * The message names the option, what was expected, what was received, and how to fix it.
 */
export class InvalidCompressionOptionError extends CompressionError {
  override name = 'InvalidCompressionOptionError';
  /** Where the option was given, e.g. `createConvCompressor`. */
  readonly factory: string;
  /** The option name, e.g. `rate`. */
  readonly option: string;
  constructor(
    details: { factory: string; option: string; expected: string; actual: string; fix?: string },
    options?: { cause?: unknown },
  ) {
    const fix = details.fix === undefined ? '' : ` ${details.fix}`;
    super(`${details.factory}: option "${details.option}" must be ${details.expected}, got ${details.actual}.${fix}`, options);
    this.factory = details.factory;
    this.option = details.option;
  }
}

/**
 * A tensor handed to a compressor or to the compressive policy has the wrong shape or dtype, e.g. an evicted
 * block whose length is not a multiple of the compression rate.
 */
export class InvalidCompressorInputError extends CompressionError {
  override name = 'InvalidCompressorInputError';
  /** The compressor or function that rejected the input, e.g. `conv compressor (layer 0)`. */
  readonly operation: string;
  /** The parameter name, e.g. `hidden`. */
  readonly parameter: string;
  constructor(
    details: { operation: string; parameter: string; expected: string; actual: string; fix?: string },
    options?: { cause?: unknown },
  ) {
    const fix = details.fix === undefined ? '' : ` ${details.fix}`;
    super(
      `${details.operation}: "${details.parameter}" must be ${details.expected}, got ${details.actual}.${fix}`,
      options,
    );
    this.operation = details.operation;
    this.parameter = details.parameter;
  }
}

/** A compressor is used in a way its life cycle does not allow (not built, disposed, built twice for a layer). */
export class CompressorLifecycleError extends CompressionError {
  override name = 'CompressorLifecycleError';
}

/** Saved compressor weights or a saved compressive memory state do not match what is being restored. */
export class CompressionStateError extends CompressionError {
  override name = 'CompressionStateError';
  /** The tensor name or metadata key that does not match, e.g. `layers.0.weight`. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.key = key;
  }
}
