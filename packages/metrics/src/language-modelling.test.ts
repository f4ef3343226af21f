// Tests of bits per token and perplexity: hand-computed examples, totals vs batch means, PG-19-format word counts.
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EmptyMetricError,
  InvalidMetricInputError,
  NllAccumulator,
  bitsPerCharacter,
  bitsPerToken,
  countWords,
  meanNll,
  perplexity,
  wordLevelPerplexity,
} from './index.js';

describe('bits per character', () => {
  it('matches a hand-computed example (probabilities 1/2, 1/4, 1/8, 1 -> 1.5 bits)', () => {
    // -ln(1/2) - ln(1/4) - ln(1/8) - ln(1) = (1 + 2 + 3 + 0) ln 2 = 6 ln 2 nats over 4 characters.
    const nll = [Math.log(2), Math.log(4), Math.log(8), 0];
    const total = nll.reduce((a, b) => a + b, 0);
    expect(bitsPerCharacter(total, 4)).toBeCloseTo(1.5, 12);
    const accumulator = new NllAccumulator();
    accumulator.addTokenNll(nll);
    expect(accumulator.bitsPerToken()).toBeCloseTo(1.5, 12);
    expect(accumulator.perplexity()).toBeCloseTo(2 ** 1.5, 10);
    expect(accumulator.meanNll()).toBeCloseTo(1.5 * Math.LN2, 12);
  });

  it('agrees with the cross-entropy the tensor engine computes from logits', () => {
    // Logits whose softmax is exactly [1/2, 1/4, 1/4]: target 0 costs 1 bit, target 1 costs 2 bits.
    const logits = tf.tensor2d([
      [Math.log(0.5), Math.log(0.25), Math.log(0.25)],
      [Math.log(0.5), Math.log(0.25), Math.log(0.25)],
      [Math.log(0.5), Math.log(0.25), Math.log(0.25)],
    ]);
    const targets = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3);
    const perToken = tf.losses.softmaxCrossEntropy(targets, logits, undefined, undefined, tf.Reduction.NONE);
    const values = perToken.dataSync();
    tf.dispose([logits, targets, perToken]);
    const accumulator = new NllAccumulator();
    accumulator.addTokenNll(values);
    expect(accumulator.count).toBe(3);
    expect(accumulator.bitsPerToken()).toBeCloseTo(5 / 3, 5);
  });

  it('uses total NLL over total count, not a mean of per-batch means', () => {
    const accumulator = new NllAccumulator();
    accumulator.add(3 * Math.LN2, 1); // batch A: 1 token, 3 bits
    accumulator.add(3 * Math.LN2, 3); // batch B: 3 tokens, 1 bit each
    expect(accumulator.bitsPerToken()).toBeCloseTo(6 / 4, 12);
    const meanOfBatchMeans = (bitsPerToken(3 * Math.LN2, 1) + bitsPerToken(3 * Math.LN2, 3)) / 2;
    expect(meanOfBatchMeans).toBeCloseTo(2, 12);
    expect(accumulator.bitsPerToken()).not.toBeCloseTo(meanOfBatchMeans, 3);
  });

  it('counts only masked-in positions', () => {
    const accumulator = new NllAccumulator();
    accumulator.addTokenNll([Math.LN2, 100, 3 * Math.LN2], [1, 0, 1]);
    expect(accumulator.count).toBe(2);
    expect(accumulator.bitsPerToken()).toBeCloseTo(2, 12);
  });

  it('merges accumulators', () => {
    const first = new NllAccumulator();
    first.add(Math.LN2, 1);
    first.addWords(1);
    const second = new NllAccumulator();
    second.add(3 * Math.LN2, 1);
    second.addWords(1);
    first.merge(second);
    expect(first.count).toBe(2);
    expect(first.words).toBe(2);
    expect(first.bitsPerToken()).toBeCloseTo(2, 12);
  });

  it('rejects bad input with named parameters', () => {
    expect(() => bitsPerToken(1, 0)).toThrow(InvalidMetricInputError);
    expect(() => bitsPerToken(1, 0)).toThrow(/"count"/);
    expect(() => bitsPerToken(Number.NaN, 3)).toThrow(/"nllSum".*NaN/);
    expect(() => perplexity(-1, 3)).toThrow(InvalidMetricInputError);
    expect(() => meanNll(1, Number.POSITIVE_INFINITY)).toThrow(InvalidMetricInputError);
    expect(() => new NllAccumulator().bitsPerToken()).toThrow(EmptyMetricError);
    expect(() => new NllAccumulator().add(1, 1.5)).toThrow(/integer/);
    expect(() => new NllAccumulator().addTokenNll([1, 2], [1])).toThrow(/"mask"/);
    expect(() => new NllAccumulator().addTokenNll([1, Number.NaN])).toThrow(/values\[1\]/);
  });
});

describe('word-level perplexity', () => {
  let folder: string | null = null;
  afterEach(() => {
    if (folder !== null) rmSync(folder, { recursive: true, force: true });
    folder = null;
  });

  it('counts words as runs of non-whitespace', () => {
    expect(countWords('')).toBe(0);
    expect(countWords('   ')).toBe(0);
    expect(countWords('one')).toBe(1);
    expect(countWords(' The  cat\tsat.\n\nOn the\u00a0mat ')).toBe(6);
    expect(() => countWords(3 as unknown as string)).toThrow(InvalidMetricInputError);
  });

  it('is exp(total NLL / words) over a tiny PG-19-format folder with a uniform byte model', () => {
    // PG-19 layout: <root>/{train,validation,test}/<book id>.txt
    folder = mkdtempSync(join(tmpdir(), 'engram-pg19-'));
    mkdirSync(join(folder, 'test'));
    writeFileSync(join(folder, 'test', '1001.txt'), 'The cat sat\non the mat.\n');
    writeFileSync(join(folder, 'test', '1002.txt'), 'It rained.\n');
    const accumulator = new NllAccumulator();
    let bytes = 0;
    for (const name of readdirSync(join(folder, 'test')).filter((file) => file.endsWith('.txt')).sort()) {
      const buffer = readFileSync(join(folder, 'test', name));
      // A uniform model over 256 byte values assigns every byte NLL ln 256 = 8 ln 2 nats.
      accumulator.addTokenNll(new Array<number>(buffer.length).fill(Math.log(256)));
      accumulator.addWords(countWords(buffer.toString('utf8')));
      bytes += buffer.length;
    }
    // By hand: 24 + 11 = 35 bytes; words "The cat sat on the mat." (6) + "It rained." (2) = 8.
    expect(bytes).toBe(35);
    expect(accumulator.words).toBe(8);
    expect(accumulator.bitsPerToken()).toBeCloseTo(8, 12);
    // exp(35 * 8 ln 2 / 8) = 2^35.
    expect(accumulator.wordLevelPerplexity() / 2 ** 35).toBeCloseTo(1, 10);
    expect(wordLevelPerplexity(accumulator.nllSum, accumulator.words)).toBe(accumulator.wordLevelPerplexity());
    const summary = accumulator.summary();
    expect(summary.words).toBe(8);
    expect(summary.wordLevelPerplexity).toBe(accumulator.wordLevelPerplexity());
  });

  it('needs words to be counted', () => {
    const accumulator = new NllAccumulator();
    accumulator.add(1, 1);
    expect(() => accumulator.wordLevelPerplexity()).toThrow(EmptyMetricError);
    expect(accumulator.summary().words).toBeUndefined();
    expect(() => wordLevelPerplexity(1, 0)).toThrow(/"words"/);
  });
});
