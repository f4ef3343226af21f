// In-order evaluation with memory carried across segments (SPEC 7): bits per token from the split's total NLL, word-level perplexity, error rate on labelled positions.
import * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '@engram/datasets';
import { batchToTensors, disposeBatchTensors } from '@engram/datasets/tensors';
import { sparseSoftmaxCrossEntropy } from '@engram/kernels';
import { disposeState } from '@engram/memory';
import { ErrorRateAccumulator, NllAccumulator, Stopwatch } from '@engram/metrics';
import type { NllSummary } from '@engram/metrics';
import type { MemoryTransformer } from '@engram/model';
import { describeValue } from '@engram/core';
import { InvalidTrainOptionError, NonFiniteEvaluationError, TrainerError } from './errors.js';

/** A split to evaluate on. */
export interface EvaluationData {
  /**
   * A fresh in-order pass over the split, called once per evaluation, e.g.
   * `() => evaluationBatches(tokens, { batchSize, segmentLength })` from `@engram/datasets`.
   * Batches must be consecutive segments of the same rows (memory is carried between them).
   */
  batches: () => Iterable<TokenBatch>;
  /** Name in logs (default `validation`). */
  name?: string;
  /** Words of the split's text, for word-level perplexity (`tokenizer.countWords(text)`, PG-19 convention). */
  words?: number;
  /**
   * Also report the error rate on labelled positions (the batch mask), for copy/collision tasks.
   * Predictions are the argmax of the logits at each labelled position.
   */
  errorRate?: boolean;
  /** Stop after this many batches (quick checks during training; default: the whole split). */
  maxBatches?: number;
  /**
   * Batches in a pass, when known (e.g. `planEvaluation(tokens.length, { batchSize, segmentLength }).steps`
   * of `@engram/datasets`): the progress bar then shows the evaluation's ETA.
   */
  totalBatches?: number;
}

/** Options of {@link evaluate} that do not describe the split. */
export interface EvaluateOptions {
  /** Called after each batch with the number of batches done. */
  onBatch?: (done: number) => void;
}

/** Result of {@link evaluate}. */
export interface EvaluationResult extends NllSummary {
  /** The split's name. */
  split: string;
  /** Batches evaluated. */
  batches: number;
  /** Wall time in seconds. */
  seconds: number;
  /** Wrong argmax predictions / labelled positions (only with `errorRate: true`). */
  errorRate?: number;
  /** Labelled positions scored for the error rate. */
  labelled?: number;
}

/** Shape of a batch's arrays, checked against the first batch so memory rows stay aligned. */
function batchShape(batch: TokenBatch, index: number): [number, number] {
  const [rows, time] = batch.shape;
  if (!Number.isInteger(rows) || !Number.isInteger(time) || rows < 1 || time < 1) {
    throw new InvalidTrainOptionError({
      option: `evaluation batch ${index}.shape`,
      expected: '[batch, time] with positive integers',
      actual: describeValue(batch.shape),
    });
  }
  return [rows, time];
}

/**
 * Evaluates `model` on `data` in one in-order pass: fresh memory at the start of the split,
 * memory carried from each segment to the next, NLL summed over every counted target (mask > 0)
 * and divided by their number at the end. Training state (weights, optimizer, training memory)
 * is not touched; the evaluation memory is disposed at the end.
 */
export function evaluate(model: MemoryTransformer, data: EvaluationData, options: EvaluateOptions = {}): EvaluationResult {
  if (typeof data?.batches !== 'function') {
    throw new InvalidTrainOptionError({
      option: 'evaluation.batches',
      expected: 'a function returning an iterable of batches',
      actual: describeValue(data?.batches),
      fix: 'Pass () => evaluationBatches(tokens, { batchSize, segmentLength }).',
    });
  }
  const watch = new Stopwatch();
  const totals = new NllAccumulator();
  const errors = data.errorRate === true ? new ErrorRateAccumulator() : null;
  let state: ReturnType<MemoryTransformer['initialState']> | null = null;
  let shape: [number, number] | null = null;
  let batches = 0;
  try {
    for (const batch of data.batches()) {
      if (data.maxBatches !== undefined && batches >= data.maxBatches) break;
      const current = batchShape(batch, batches);
      if (shape === null) {
        shape = current;
        state = model.initialState(current[0]);
      } else if (current[0] !== shape[0]) {
        throw new TrainerError(
          `evaluate: batch ${batches} has ${current[0]} rows, the first had ${shape[0]}; every batch of a split must have the same rows so memory carries over.`,
        );
      }
      const tensors = batchToTensors(batch);
      try {
        const current = state as NonNullable<typeof state>;
        if (errors === null) {
          const result = model.evaluate(tensors.inputs, tensors.targets, current, tensors.mask === null ? {} : { mask: tensors.mask });
          state = result.state;
          if (!Number.isFinite(result.nllSum)) throw new NonFiniteEvaluationError(data.name ?? 'validation', batches, result.nllSum);
          totals.add(result.nllSum, result.count);
        } else {
          // The error rate needs the predictions, which evaluate() does not return: run the same
          // evaluation-mode segment through forward() and score its logits here.
          const forward = model.forward(tensors.inputs, current, { training: false });
          state = forward.state;
          const positions = tensors.inputs.size;
          const scored = tf.tidy(() => {
            const flat = tf.reshape(forward.logits, [positions, model.config.vocabSize]) as tf.Tensor2D;
            const nll = sparseSoftmaxCrossEntropy(flat, tf.reshape(tensors.targets, [positions]) as tf.Tensor1D);
            return { nll, predictions: tf.argMax(flat, 1) };
          });
          forward.logits.dispose();
          const nll = scored.nll.dataSync();
          const predictions = scored.predictions.dataSync();
          tf.dispose([scored.nll, scored.predictions]);
          const mask = batch.mask ?? undefined;
          let sum = 0;
          for (let index = 0; index < nll.length; index++) if (mask === undefined || (mask[index] ?? 0) > 0) sum += nll[index] as number;
          if (!Number.isFinite(sum)) throw new NonFiniteEvaluationError(data.name ?? 'validation', batches, sum);
          totals.addTokenNll(nll, mask);
          errors.add(predictions, batch.targets, mask);
        }
      } finally {
        disposeBatchTensors(tensors);
      }
      batches += 1;
      options.onBatch?.(batches);
    }
  } finally {
    if (state !== null) disposeState(state);
  }
  if (batches === 0 || totals.count === 0) {
    throw new TrainerError(
      `evaluate: the ${data.name ?? 'validation'} split produced no counted target; check that batches() yields batches with a non-zero mask.`,
    );
  }
  if (data.words !== undefined) totals.addWords(data.words);
  const result: EvaluationResult = { split: data.name ?? 'validation', batches, seconds: watch.stop(), ...totals.summary() };
  if (errors !== null) {
    result.errorRate = errors.errorRate();
    result.labelled = errors.labelled;
  }
  return result;
}

