// Error classes of @engram/memory: stable names, a cause, and messages that say how to fix the problem.
import { EngramError, namedError } from '@engram/core';

/** Base class of every error thrown by @engram/memory. */
export class MemoryError extends EngramError {
  override readonly name: string = 'MemoryError';
}

/** A memory policy was given invalid options or used against its contract. */
export class MemoryPolicyError extends namedError(MemoryError, 'MemoryPolicyError') {}

/** A memory state (or the tensors handed to a helper) has the wrong shape, dtype or batch size. */
export class MemoryStateError extends namedError(MemoryError, 'MemoryStateError') {}

/** A serialized memory state cannot be restored (missing tensors, wrong kind or version). */
export class MemorySerializationError extends namedError(MemoryError, 'MemorySerializationError') {}
