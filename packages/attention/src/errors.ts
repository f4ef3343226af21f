// Error classes of @engram/attention: stable names, a cause, and messages that say how to fix the problem.
import { EngramError, namedError } from '@engram/core';
import type { EngramErrorOptions } from '@engram/core';

/** Options accepted by every error of this package. */
export type AttentionErrorOptions = EngramErrorOptions;

/** Base class of every error thrown by @engram/attention. */
export class AttentionError extends EngramError {
  override readonly name: string = 'AttentionError';
}

/** Invalid options for creating an attention layer (width not divisible by heads, bad clamp length, ...). */
export class AttentionConfigError extends namedError(AttentionError, 'AttentionConfigError') {}

/** An attention call got tensors of the wrong shape or dtype. */
export class AttentionInputError extends namedError(AttentionError, 'AttentionInputError') {}
