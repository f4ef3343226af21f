// Error classes of @engram/trainer: each has a stable `name`, an optional `cause`, and a message naming the fix.
import { EngramError, namedError, withOptionProblem } from '@engram/core';

/** Base class of every error thrown by @engram/trainer. */
export class TrainerError extends EngramError {
  override name = 'TrainerError';
}

/**
 * A training option is missing or has the wrong value. The message names the option, what was
 * expected, what was received and how to fix it.
 */
export class InvalidTrainOptionError extends namedError(withOptionProblem(TrainerError, 'train'), 'InvalidTrainOptionError') {}

/** Training stopped because the loss or gradient norm was not finite at too many steps in a row. */
export class NonFiniteLossError extends namedError(TrainerError, 'NonFiniteLossError') {
  /** The step at which training stopped (1-based, counting skipped steps). */
  readonly step: number;
  /** Consecutive non-finite steps when it stopped. */
  readonly inARow: number;
  /** Non-finite steps over the whole run. */
  readonly total: number;
  /** `evaluation` when the stop came from a non-finite validation loss (the weights are no longer finite). */
  readonly during: 'training' | 'evaluation';
  constructor(details: {
    step: number;
    inARow: number;
    total: number;
    loss: number;
    gradientNorm: number;
    during?: 'training' | 'evaluation';
  }) {
    const what =
      details.during === 'evaluation'
        ? `with a non-finite validation loss (${details.loss}): the weights (or the validation tokens) are bad (last gradient norm ${details.gradientNorm}; ${details.total} steps skipped in total). `
        : `after ${details.inARow} steps in a row with a non-finite loss or gradient ` +
          `(last loss ${details.loss}, gradient norm ${details.gradientNorm}; ${details.total} skipped in total). Their updates were skipped. `;
    super(
      `train: stopped at step ${details.step} ${what}` +
        'Lower the learning rate, raise the warm-up, check the data for invalid tokens, ' +
        'or raise maxNonFiniteInARow if isolated spikes are expected.',
    );
    this.step = details.step;
    this.inARow = details.inARow;
    this.total = details.total;
    this.during = details.during ?? 'training';
  }
}

/**
 * `resume: true` found nothing to resume: no checkpoint, or only unusable ones (listed in `skipped`).
 * Nothing has been written when it is thrown.
 */
export class NothingToResumeError extends namedError(TrainerError, 'NothingToResumeError') {
  /** The checkpoint directory that was searched. */
  readonly directory: string;
  /** Unusable checkpoints found there, newest first, with the reason. */
  readonly skipped: readonly { path: string; step: number; problem: string }[];
  constructor(directory: string, skipped: readonly { path: string; step: number; problem: string }[]) {
    const found =
      skipped.length === 0
        ? 'holds no checkpoint'
        : `holds no usable checkpoint (${skipped.map((entry) => `step ${entry.step}: ${entry.problem}`).join('; ')})`;
    super(
      `train: cannot resume: ${directory} ${found}. Start a fresh run (resume: false, in a new directory), ` +
        "or pass resume: 'if-present' to start from step 0 when there is no checkpoint at all.",
    );
    this.directory = directory;
    this.skipped = skipped;
  }
}

/** An evaluation met a non-finite loss (the weights or the tokens are bad); its result would be meaningless. */
export class NonFiniteEvaluationError extends namedError(TrainerError, 'NonFiniteEvaluationError') {
  /** The split's name. */
  readonly split: string;
  /** The batch (0-based) whose loss was not finite. */
  readonly batch: number;
  /** That batch's summed loss. */
  readonly loss: number;
  constructor(split: string, batch: number, loss: number) {
    super(
      `evaluate: the ${split} split gives a non-finite loss (${loss}) at batch ${batch}: the model's weights or the tokens are bad; ` +
        'check them, or retrain from a checkpoint before the loss diverged.',
    );
    this.split = split;
    this.batch = batch;
    this.loss = loss;
  }
}

/** A checkpoint cannot be used: missing manifest, checksum mismatch, truncated or unreadable file. */
export class CorruptCheckpointError extends namedError(TrainerError, 'CorruptCheckpointError') {
  /** The checkpoint directory. */
  readonly path: string;
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`checkpoint ${path} is not valid: ${reason}`, options);
    this.path = path;
  }
}

/** A checkpoint is valid but does not fit the model, policy or options it is being restored into. */
export class CheckpointMismatchError extends namedError(TrainerError, 'CheckpointMismatchError') {
  constructor(readonly path: string, reason: string, options?: { cause?: unknown }) {
    super(`checkpoint ${path} does not match this run: ${reason}`, options);
  }
}
