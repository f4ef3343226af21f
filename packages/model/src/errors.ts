// Error classes of @engram/model: stable names, a cause, and messages that say how to fix the problem.
import { EngramError, namedError } from '@engram/core';
import type { EngramErrorOptions } from '@engram/core';

/** Options accepted by every error of this package. */
export type ModelErrorOptions = EngramErrorOptions;

/** Base class of every error thrown by @engram/model. */
export class ModelError extends EngramError {
  override readonly name: string = 'ModelError';
}

/** A model configuration field is missing or out of range. */
export class ModelConfigError extends namedError(ModelError, 'ModelConfigError') {}

/** A call got tensors or values of the wrong shape, dtype or range (tokens, batches, states). */
export class ModelInputError extends namedError(ModelError, 'ModelInputError') {}

/** A safetensors file is malformed, truncated or holds an unsupported dtype. */
export class SafetensorsError extends namedError(ModelError, 'SafetensorsError') {}

/** Saved weights or a saved config do not match the model being loaded. */
export class WeightsError extends namedError(ModelError, 'WeightsError') {}

/** A model cannot be converted to or from another framework's format (names the option that prevents it). */
export class ConversionError extends namedError(ModelError, 'ConversionError') {}
