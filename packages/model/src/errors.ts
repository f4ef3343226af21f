// Error classes of @engram/model: stable names, a cause, and messages that say how to fix the problem.
import { EngramError } from '@engram/core';
import type { EngramErrorOptions } from '@engram/core';

/** Options accepted by every error of this package. */
export type ModelErrorOptions = EngramErrorOptions;

/** Base class of every error thrown by @engram/model. */
export class ModelError extends EngramError {
  override readonly name: string = 'ModelError';
}

/** A model configuration field is missing or out of range. */
export class ModelConfigError extends ModelError {
  override readonly name = 'ModelConfigError';
}

/** A call got tensors or values of the wrong shape, dtype or range (tokens, batches, states). */
export class ModelInputError extends ModelError {
  override readonly name = 'ModelInputError';
}

/** A safetensors file is malformed, truncated or holds an unsupported dtype. */
export class SafetensorsError extends ModelError {
  override readonly name = 'SafetensorsError';
}

/** Saved weights or a saved config do not match the model being loaded. */
export class WeightsError extends ModelError {
  override readonly name = 'WeightsError';
}

/** A model cannot be converted to or from another framework's format (names the option that prevents it). */
export class ConversionError extends ModelError {
  override readonly name = 'ConversionError';
}
