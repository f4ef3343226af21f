// Contiguous-stream batching for language modelling (SPEC 7): B contiguous streams, step k feeds tokens [kT, (k+1)T) of every stream, so memory carries over between steps of the same row.
import { InvalidArgumentError } from '../errors.js';

/**
 * One batch of segments. Arrays are row-major `[batch, time]` = `[B, T]`:
 * element `(row, t)` is at `row * T + t`.
 */
export interface TokenBatch {
  /** Input token ids, `[B, T]`. */
  inputs: Int32Array;
  /** Target ids, `[B, T]`: the token that follows each input in its stream. */
  targets: Int32Array;
  /**
   * `[B, T]` weights of the target positions (1 = counts, 0 = padding or unlabelled), or
   * null when every position counts.
   */
  mask: Float32Array | null;
  /** `[B, T]`. */
  shape: readonly [number, number];
  /** Index of this batch from the start (0-based). */
  step: number;
  /** Epoch of this batch (always 0 for evaluation and task streams). */
  epoch: number;
  /** True for the first step of an epoch after the first: the streams restarted from their beginnings, so carried memory no longer precedes the inputs. */
  startsEpoch: boolean;
  /** Number of target positions that count (sum of the mask, or B*T). */
  targetCount: number;
}

/** Resumable position of a batch source: restoring it reproduces the exact next batch. */
export interface BatcherState {
  step: number;
}

/** Anything that yields `[B, T]` batches segment after segment with a resumable position. */
export interface SegmentSource {
  readonly batchSize: number;
  readonly segmentLength: number;
  /** The next batch; advances the position by one step. */
  next(): TokenBatch;
  /** The current position (the step of the batch `next` returns). */
  getState(): BatcherState;
  /** Moves to a saved position. */
  setState(state: BatcherState): void;
}

/** Shape options of the batchers. */
export interface StreamBatchOptions {
  /** B: number of contiguous streams (rows). */
  batchSize: number;
  /** T: tokens per segment. */
  segmentLength: number;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(name, 'a positive integer', value);
  }
}

function assertStep(step: unknown): asserts step is number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new InvalidArgumentError('state.step', 'a non-negative integer', step, 'Pass the object returned by getState().');
  }
}

/**
 * The resumable position both batchers share: `next()` is `batchAt(step)` followed by one step on, and the state
 * is `{ step }`, so restoring it reproduces the exact next batch.
 */
export abstract class SteppedSegmentSource implements SegmentSource {
  abstract readonly batchSize: number;
  abstract readonly segmentLength: number;
  private step = 0;

  /** The batch of a given step, without moving the position. */
  abstract batchAt(step: number): TokenBatch;

  next(): TokenBatch {
    const batch = this.batchAt(this.step);
    this.step += 1;
    return batch;
  }

  getState(): BatcherState {
    return { step: this.step };
  }

  setState(state: BatcherState): void {
    assertStep(state?.step);
    this.step = state.step;
  }
}

/**
 * Training batcher over one token stream of N tokens.
 *
 * Layout: the N - 1 predictions (token i+1 from tokens ..i) are cut into B rows of
 * L = floor((N - 1) / B) consecutive predictions; row r starts at token r*L and its
 * targets are tokens r*L+1 .. r*L+L (rows share their boundary token: the last target of
 * row r is the first input of row r+1). Step k of an epoch feeds inputs
 * `tokens[r*L + kT + t]` and targets `tokens[r*L + kT + t + 1]`, t in [0, T). An epoch has
 * floor(L / T) steps; afterwards the streams start again from their beginnings (`epoch`
 * increases, `startsEpoch` is true). Dropped per epoch: the last (N - 1) mod B predictions
 * and the last L mod T predictions of every row (fixed shapes for training; evaluation
 * covers everything, see {@link evaluationBatches}).
 */
export class StreamBatcher extends SteppedSegmentSource {
  readonly batchSize: number;
  readonly segmentLength: number;
  /** L: predictions per row. */
  readonly rowLength: number;
  /** Steps in one pass over the rows. */
  readonly stepsPerEpoch: number;
  private readonly tokens: Int32Array | Uint8Array;

  constructor(tokens: Int32Array | Uint8Array, options: StreamBatchOptions) {
    super();
    assertPositiveInteger('batchSize', options.batchSize);
    assertPositiveInteger('segmentLength', options.segmentLength);
    this.tokens = tokens;
    this.batchSize = options.batchSize;
    this.segmentLength = options.segmentLength;
    this.rowLength = Math.floor(Math.max(0, tokens.length - 1) / options.batchSize);
    this.stepsPerEpoch = Math.floor(this.rowLength / options.segmentLength);
    if (this.stepsPerEpoch < 1) {
      throw new InvalidArgumentError(
        'tokens',
        `at least batchSize * segmentLength + 1 = ${options.batchSize * options.segmentLength + 1} tokens`,
        `${tokens.length} tokens`,
        'Use a smaller batchSize or segmentLength, or a larger split.',
      );
    }
  }

  /** The batch of a given step, without moving the position. */
  batchAt(step: number): TokenBatch {
    assertStep(step);
    const { batchSize, segmentLength, rowLength, tokens } = this;
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const stepInEpoch = step % this.stepsPerEpoch;
    const inputs = new Int32Array(batchSize * segmentLength);
    const targets = new Int32Array(batchSize * segmentLength);
    for (let row = 0; row < batchSize; row += 1) {
      const start = row * rowLength + stepInEpoch * segmentLength;
      const outputOffset = row * segmentLength;
      inputs.set(tokens.subarray(start, start + segmentLength), outputOffset);
      targets.set(tokens.subarray(start + 1, start + 1 + segmentLength), outputOffset);
    }
    return {
      inputs,
      targets,
      mask: null,
      shape: [batchSize, segmentLength],
      step,
      epoch,
      startsEpoch: stepInEpoch === 0 && epoch > 0,
      targetCount: batchSize * segmentLength,
    };
  }
}

/** Where each evaluation row starts and how many predictions it holds. */
export interface EvaluationPlan {
  /** Token index where row r's inputs start (its first target is the next token). */
  rowStarts: number[];
  /** Number of predictions (target tokens) of row r. */
  rowLengths: number[];
  /** Number of `[B, T]` batches. */
  steps: number;
  /** N - 1: predictions in total (every token except the first). */
  targetCount: number;
}

/**
 * How {@link evaluationBatches} lays out N tokens: the N - 1 predictions are split into B
 * consecutive rows whose lengths differ by at most one (the first (N - 1) mod B rows get
 * one more), so the rows together cover targets 1..N-1 exactly once and in order.
 */
export function planEvaluation(tokenCount: number, options: StreamBatchOptions): EvaluationPlan {
  assertPositiveInteger('batchSize', options.batchSize);
  assertPositiveInteger('segmentLength', options.segmentLength);
  if (!Number.isSafeInteger(tokenCount) || tokenCount < 2) {
    throw new InvalidArgumentError('tokens', 'at least 2 tokens (one prediction)', tokenCount);
  }
  const targetCount = tokenCount - 1;
  const base = Math.floor(targetCount / options.batchSize);
  const extra = targetCount % options.batchSize;
  const rowStarts: number[] = [];
  const rowLengths: number[] = [];
  let start = 0;
  for (let row = 0; row < options.batchSize; row += 1) {
    const length = base + (row < extra ? 1 : 0);
    rowStarts.push(start);
    rowLengths.push(length);
    start += length;
  }
  const longest = base + (extra > 0 ? 1 : 0);
  return { rowStarts, rowLengths, steps: Math.ceil(longest / options.segmentLength), targetCount };
}

/**
 * In-order evaluation over every prediction of a token stream, exactly once.
 *
 * Rows follow {@link planEvaluation}; step k feeds positions [kT, (k+1)T) of every row, so
 * memory carries over between steps of a row as in training. Shapes stay `[B, T]`: positions
 * past a row's end (only in the last step, or in empty rows when N - 1 < B) have input 0,
 * target 0 and mask 0. Sum the loss times the mask and divide by the total of `targetCount`
 * for bits per token over the whole split (SPEC 7: not a mean of per-batch means).
 */
export function* evaluationBatches(tokens: Int32Array | Uint8Array, options: StreamBatchOptions): Generator<TokenBatch, void, undefined> {
  const plan = planEvaluation(tokens.length, options);
  const { batchSize, segmentLength } = options;
  for (let step = 0; step < plan.steps; step += 1) {
    const inputs = new Int32Array(batchSize * segmentLength);
    const targets = new Int32Array(batchSize * segmentLength);
    const mask = new Float32Array(batchSize * segmentLength);
    let targetCount = 0;
    for (let row = 0; row < batchSize; row += 1) {
      const offsetInRow = step * segmentLength;
      const available = Math.max(0, Math.min(segmentLength, (plan.rowLengths[row] as number) - offsetInRow));
      if (available === 0) continue;
      const start = (plan.rowStarts[row] as number) + offsetInRow;
      const outputOffset = row * segmentLength;
      inputs.set(tokens.subarray(start, start + available), outputOffset);
      targets.set(tokens.subarray(start + 1, start + 1 + available), outputOffset);
      mask.fill(1, outputOffset, outputOffset + available);
      targetCount += available;
    }
    yield { inputs, targets, mask, shape: [batchSize, segmentLength], step, epoch: 0, startsEpoch: false, targetCount };
  }
}
