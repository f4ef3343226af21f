// Error classes of @engram/kernels: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, namedError, withParameterProblem } from '@engram/core';

/** Base class of every error thrown by @engram/kernels. */
export class KernelsError extends EngramError {
  override name = 'KernelsError';
}

/**
 * A parameter has the wrong shape, dtype or value.
 * The message names the parameter, what was expected, what was received, and how to fix it.
 */
export class InvalidArgumentError extends namedError(withParameterProblem(KernelsError), 'InvalidArgumentError') {}

/** An explicitly requested tensor backend cannot be loaded or initialised here. */
export class BackendUnavailableError extends namedError(KernelsError, 'BackendUnavailableError') {
  /** The backend that was asked for, e.g. `tensorflow-gpu`. */
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.backend = backend;
  }
}

/** A tensor allocation would exceed the wasm heap cap (4 GiB). */
export class TensorBudgetError extends namedError(KernelsError, 'TensorBudgetError') {
  /** What was about to be allocated, e.g. `attention scores of layer 3`. */
  readonly what: string;
  /** Bytes requested by the caller. */
  readonly requestedBytes: number;
  /** Bytes already held by live tensors when the request was made. */
  readonly inUseBytes: number;
  /** The cap that would be exceeded. */
  readonly limitBytes: number;
  constructor(
    details: { what: string; requestedBytes: number; inUseBytes: number; limitBytes: number },
    message: string,
  ) {
    super(message);
    this.what = details.what;
    this.requestedBytes = details.requestedBytes;
    this.inUseBytes = details.inUseBytes;
    this.limitBytes = details.limitBytes;
  }
}

/** `expectClose` found values (or shapes) that differ beyond the tolerance. */
export class NumericMismatchError extends namedError(KernelsError, 'NumericMismatchError') {}

/** `checkGradients` found an analytic gradient that disagrees with finite differences. */
export class GradientMismatchError extends namedError(KernelsError, 'GradientMismatchError') {
  /** Index of the input (in the `inputs` array) whose gradient disagrees. */
  readonly inputIndex: number;
  /** Flat element index inside that input. */
  readonly elementIndex: number;
  constructor(message: string, inputIndex: number, elementIndex: number) {
    super(message);
    this.inputIndex = inputIndex;
    this.elementIndex = elementIndex;
  }
}

/** `expectNoLeak` saw more live tensors after the function than before. */
export class TensorLeakError extends namedError(KernelsError, 'TensorLeakError') {
  /** Live tensors after minus live tensors before. */
  readonly leaked: number;
  constructor(message: string, leaked: number) {
    super(message);
    this.leaked = leaked;
  }
}
