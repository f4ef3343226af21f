// Tests of in-order evaluation against a token-by-token reference (the model's stream), word-level perplexity on a tiny PG-19 folder(), and error rate on labelled positions.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TaskStream, createByteTokenizer, createCopyTask, evaluationBatches, planEvaluation } from '@engram/datasets';
import { countSplitWords, encodeSplit, preparePg19 } from '@engram/datasets/node';
import type { TokenBatch } from '@engram/datasets';
import { createModel } from '@engram/model';
import type { MemoryTransformer } from '@engram/model';
import { describe, expect, it } from 'vitest';
import { evaluate } from './evaluate.js';
import { createTinyModel, tinyTokens } from './testing/fixtures.js';
import { temporaryFolderEachTest } from './testing/runs.js';

/** -log softmax(logits)[target] in double precision. */
function referenceNll(logits: Float32Array, target: number): number {
  let maximum = Number.NEGATIVE_INFINITY;
  for (const value of logits) maximum = Math.max(maximum, value);
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - maximum);
  return -((logits[target] as number) - maximum - Math.log(sum));
}

function argmax(values: Float32Array): number {
  let best = 0;
  values.forEach((value, index) => {
    if (value > (values[best] as number)) best = index;
  });
  return best;
}

/** Per-token scores of one row: NLL (nats) and whether the argmax was right, null where unlabelled. */
type RowScores = ({ nll: number; correct: boolean } | null)[];

/**
 * The slow obvious way: every row of the evaluation layout fed token by token through the model's
 * stream (memory committed every segment, SPEC 6), scoring each labelled prediction.
 */
function streamScores(model: MemoryTransformer, rows: { inputs: number[]; targets: number[]; labelled: boolean[] }[]): RowScores[] {
  return rows.map((row) => {
    const stream = model.createStream();
    const scores = row.inputs.map((token, index) => {
      const logits = stream.push(token);
      if (!row.labelled[index]) return null;
      const target = row.targets[index] as number;
      return { nll: referenceNll(logits, target), correct: argmax(logits) === target };
    });
    stream.dispose();
    return scores;
  });
}

/** The rows of an evaluation layout `plan` over `tokens`, every position labelled: what {@link streamScores} feeds token by token. */
function evaluationRows(tokens: Int32Array, plan: ReturnType<typeof planEvaluation>): { inputs: number[]; targets: number[]; labelled: boolean[] }[] {
  return plan.rowStarts.map((start, row) => {
    const length = plan.rowLengths[row] as number;
    return {
      inputs: Array.from(tokens.subarray(start, start + length)),
      targets: Array.from(tokens.subarray(start + 1, start + 1 + length)),
      labelled: new Array<boolean>(length).fill(true),
    };
  });
}

/** Totals of {@link streamScores}. */
function streamReference(
  model: MemoryTransformer,
  rows: { inputs: number[]; targets: number[]; labelled: boolean[] }[],
): { nllSum: number; count: number; errors: number; scores: RowScores[] } {
  const scores = streamScores(model, rows);
  let nllSum = 0;
  let count = 0;
  let errors = 0;
  for (const score of scores.flat()) {
    if (score === null) continue;
    nllSum += score.nll;
    count += 1;
    if (!score.correct) errors += 1;
  }
  return { nllSum, count, errors, scores };
}

describe('evaluate', () => {
  const folder = temporaryFolderEachTest('engram-evaluate-');

  it('computes bits per token from the total NLL of an in-order pass with memory, like a token-by-token stream', () => {
    const model = createTinyModel(3);
    const tokens = tinyTokens().subarray(0, 83); // 82 predictions over 3 rows: the last batch is partly masked
    const options = { batchSize: 3, segmentLength: 8 };
    const before = tf.memory().numTensors;
    const result = evaluate(model, { batches: () => evaluationBatches(tokens, options), name: 'test' });
    expect(tf.memory().numTensors).toBe(before);

    const plan = planEvaluation(tokens.length, options);
    const rows = evaluationRows(tokens, plan);
    const reference = streamReference(model, rows);
    expect(result.split).toBe('test');
    expect(result.count).toBe(82);
    expect(reference.count).toBe(82);
    expect(result.batches).toBe(plan.steps);
    expect(result.nllSum).toBeCloseTo(reference.nllSum, 2);
    expect(result.bitsPerToken).toBeCloseTo(reference.nllSum / 82 / Math.LN2, 4);
    expect(result.perplexity).toBeCloseTo(Math.exp(reference.nllSum / 82), 3);

    // Not a mean of per-batch means: the last batch holds 10 counted tokens, the others 24.
    const batchMeans: number[] = [];
    for (let step = 0; step < plan.steps; step += 1) {
      const inBatch = reference.scores.flatMap((row) => row.slice(step * 8, step * 8 + 8));
      batchMeans.push(inBatch.reduce((sum, score) => sum + (score?.nll ?? 0), 0) / inBatch.length);
    }
    const meanOfBatchMeans = batchMeans.reduce((a, b) => a + b, 0) / batchMeans.length;
    // (Deterministic: seeded weights. The totals agree to ~1e-7, the mean of batch means is ~5e-4 away.)
    expect(Math.abs(result.meanNll - reference.nllSum / 82)).toBeLessThan(1e-5);
    expect(Math.abs(result.meanNll - meanOfBatchMeans)).toBeGreaterThan(1e-4);
    model.dispose();
  });

  it('gives word-level perplexity exp(total NLL / words) on a tiny PG-19-format folder()', async () => {
    for (const split of ['train', 'validation', 'test']) mkdirSync(join(folder(), split));
    writeFileSync(join(folder(), 'train', '10.txt'), 'Call me Ishmael.\n');
    writeFileSync(join(folder(), 'validation', '20.txt'), 'Some years ago.\n');
    writeFileSync(join(folder(), 'test', '30.txt'), 'It was the best of times,\nit was the worst of times.\n');
    writeFileSync(join(folder(), 'test', '31.txt'), 'Happy families are all alike.\n');
    writeFileSync(join(folder(), 'metadata.csv'), '30,A Tale,1859,http://example.org/30\n31,Anna,1878,http://example.org/31\n');
    const corpus = await preparePg19({ source: folder() });
    const split = corpus.splits.test;
    const tokenizer = createByteTokenizer();
    const tokens = await encodeSplit(tokenizer, split);
    const words = await countSplitWords(split);
    // By hand: "It was the best of times, it was the worst of times." = 12 words, "Happy families are all alike." = 5.
    expect(words).toBe(17);
    const model = createTinyModel(5);
    const options = { batchSize: 2, segmentLength: 8 };
    const result = evaluate(model, { batches: () => evaluationBatches(tokens, options), words, name: 'test' });
    expect(result.words).toBe(17);
    expect(result.count).toBe(tokens.length - 1);
    expect(result.wordLevelPerplexity).toBeCloseTo(Math.exp(result.nllSum / 17), 6);
    // Against the token-by-token reference (relative tolerance: the value is large).
    const plan = planEvaluation(tokens.length, options);
    const rows = evaluationRows(tokens, plan);
    const reference = streamReference(model, rows);
    const expected = Math.exp(reference.nllSum / 17);
    expect(Math.abs((result.wordLevelPerplexity as number) / expected - 1)).toBeLessThan(1e-3);
    model.dispose();
  });

  it('scores the error rate on labelled positions only, with memory carried across segments', () => {
    const task = createCopyTask({ payloadLength: 3, delay: 5, alphabetSize: 4, distractorAlphabetSize: 2 });
    const model = createModel({
      vocabSize: task.vocabulary.size,
      modelDim: 16,
      numHeads: 2,
      numLayers: 2,
      feedForwardDim: 32,
      segmentLength: 8,
      seed: 11,
    });
    const source = new TaskStream(task, { batchSize: 2, segmentLength: 8, seed: 4 });
    const steps = 4;
    const batches: TokenBatch[] = Array.from({ length: steps }, (_, step) => source.batchAt(step));
    const before = tf.memory().numTensors;
    const result = evaluate(model, { batches: () => batches, errorRate: true });
    expect(tf.memory().numTensors).toBe(before);
    // The same NLL as the model's evaluate() path (which knows nothing of predictions).
    const plain = evaluate(model, { batches: () => batches });
    expect(result.nllSum).toBeCloseTo(plain.nllSum, 3);
    expect(result.count).toBe(plain.count);

    const rows = [0, 1].map((row) => {
      const inputs: number[] = [];
      const targets: number[] = [];
      const labelled: boolean[] = [];
      for (const batch of batches) {
        for (let time = 0; time < 8; time += 1) {
          inputs.push(batch.inputs[row * 8 + time] as number);
          targets.push(batch.targets[row * 8 + time] as number);
          labelled.push((batch.mask?.[row * 8 + time] ?? 0) > 0);
        }
      }
      return { inputs, targets, labelled };
    });
    const reference = streamReference(model, rows);
    expect(result.labelled).toBe(reference.count);
    expect(reference.count).toBeGreaterThan(0);
    expect(reference.count).toBeLessThan(2 * 8 * steps);
    expect(result.errorRate).toBeCloseTo(reference.errors / reference.count, 10);
    expect(result.nllSum).toBeCloseTo(reference.nllSum, 2);
    model.dispose();
  });

  it('rejects a split without counted targets and batches whose rows change', () => {
    const model = createTinyModel();
    expect(() => evaluate(model, { batches: () => [] })).toThrow(/no counted target/);
    const tokens = tinyTokens();
    const first = evaluationBatches(tokens.subarray(0, 40), { batchSize: 2, segmentLength: 8 }).next().value as TokenBatch;
    const second = evaluationBatches(tokens.subarray(0, 40), { batchSize: 3, segmentLength: 8 }).next().value as TokenBatch;
    expect(() => evaluate(model, { batches: () => [first, second] })).toThrow(/same rows/);
    expect(() => evaluate(model, { batches: 3 as unknown as () => TokenBatch[] })).toThrow(/evaluation.batches/);
    const limited = evaluate(model, { batches: () => evaluationBatches(tokens, { batchSize: 2, segmentLength: 8 }), maxBatches: 2 });
    expect(limited.batches).toBe(2);
    expect(limited.count).toBe(2 * 2 * 8);
    model.dispose();
  });
});
