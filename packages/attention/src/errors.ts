// Error classes of @engram/attention: stable names, a cause, and messages that say how to fix the problem.

/** Options accepted by every error of this package. */
export interface AttentionErrorOptions {
  cause?: unknown;
}

/** Base class of every error thrown by @engram/attention. */
export class AttentionError extends Error {
  override readonly name: string = 'AttentionError';
  constructor(message: string, options: AttentionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Invalid options for creating an attention layer (width not divisible by heads, bad clamp length, ...). */
export class AttentionConfigError extends AttentionError {
  override readonly name = 'AttentionConfigError';
}

/** An attention call got tensors of the wrong shape or dtype. */
export class AttentionInputError extends AttentionError {
  override readonly name = 'AttentionInputError';
}
