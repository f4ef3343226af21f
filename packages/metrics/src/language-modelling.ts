// Bits per character/byte and perplexity over a whole split (SPEC 7): total NLL over total count, never a mean of per-batch means.
import { describeValue } from '@engram/core';
import { requireFiniteNonNegative, requirePositiveCount } from './checks.js';
import { EmptyMetricError, InvalidMetricInputError } from './errors.js';

/**
 * Mean negative log-likelihood in nats per predicted token: `nllSum / count`.
 * @param nllSum total NLL in nats over every predicted token of the split
 * @param count number of predicted tokens
 */
export function meanNll(nllSum: number, count: number): number {
  requireFiniteNonNegative('meanNll', 'nllSum', nllSum, 'Pass the sum of per-token NLL in nats.');
  requirePositiveCount('meanNll', 'count', count, 'Pass the number of predicted tokens (at least one).');
  return nllSum / count;
}

/**
 * Bits per token: `nllSum / count / ln 2` (SPEC 7). With a character or byte tokenizer this is
 * bits per character or per byte. `nllSum` must be the total over the split, not a sum of batch means.
 * @param nllSum total NLL in nats
 * @param count number of predicted tokens
 */
export function bitsPerToken(nllSum: number, count: number): number {
  requireFiniteNonNegative('bitsPerToken', 'nllSum', nllSum, 'Pass the sum of per-token NLL in nats.');
  requirePositiveCount('bitsPerToken', 'count', count, 'Pass the number of predicted tokens (at least one).');
  return nllSum / count / Math.LN2;
}

/** Bits per character: {@link bitsPerToken} for a character-level model (enwik8/text8 convention). */
export function bitsPerCharacter(nllSum: number, count: number): number {
  return bitsPerToken(nllSum, count);
}

/** Bits per byte: {@link bitsPerToken} for a byte-level model. */
export function bitsPerByte(nllSum: number, count: number): number {
  return bitsPerToken(nllSum, count);
}

/**
 * Token-level perplexity: `exp(nllSum / count)`.
 * @param nllSum total NLL in nats
 * @param count number of predicted tokens
 */
export function perplexity(nllSum: number, count: number): number {
  requireFiniteNonNegative('perplexity', 'nllSum', nllSum, 'Pass the sum of per-token NLL in nats.');
  requirePositiveCount('perplexity', 'count', count, 'Pass the number of predicted tokens (at least one).');
  return Math.exp(nllSum / count);
}

/**
 * Word-level perplexity: `exp(nllSum / words)`, whatever the model predicts (bytes, characters,
 * subwords): the PG-19 convention of SPEC 7. `nllSum` covers every predicted token of the text
 * whose words were counted.
 * @param nllSum total NLL in nats over the split
 * @param words number of words in the split (see {@link countWords})
 */
export function wordLevelPerplexity(nllSum: number, words: number): number {
  requireFiniteNonNegative('wordLevelPerplexity', 'nllSum', nllSum, 'Pass the sum of per-token NLL in nats.');
  requirePositiveCount(
    'wordLevelPerplexity',
    'words',
    words,
    'Pass the number of words of the evaluated text (countWords(text)); it must not be empty.',
  );
  return Math.exp(nllSum / words);
}

/**
 * Number of words in a text: maximal runs of non-whitespace characters (Unicode `\s`), the
 * convention used here for PG-19 word-level perplexity. `countWords("a  b\nc") === 3`.
 */
export function countWords(text: string): number {
  if (typeof text !== 'string') {
    throw new InvalidMetricInputError({
      operation: 'countWords',
      parameter: 'text',
      expected: 'a string',
      actual: describeValue(text),
      fix: 'Decode the file to text first.',
    });
  }
  let words = 0;
  let inWord = false;
  for (const character of text) {
    const whitespace = /\s/u.test(character);
    if (!whitespace && !inWord) words += 1;
    inWord = !whitespace;
  }
  return words;
}

/** JSON-safe summary of an {@link NllAccumulator}. Optional fields are absent when undefined. */
export interface NllSummary {
  /** Total NLL in nats. */
  nllSum: number;
  /** Predicted tokens. */
  count: number;
  /** `nllSum / count`. */
  meanNll: number;
  /** `nllSum / count / ln 2`: bits per character or per byte for character/byte models. */
  bitsPerToken: number;
  /** `exp(nllSum / count)`. */
  perplexity: number;
  /** Words counted with {@link NllAccumulator.addWords}, when any. */
  words?: number;
  /** `exp(nllSum / words)`, when words were counted. */
  wordLevelPerplexity?: number;
}

/**
 * Sums NLL and token (and optionally word) counts over a split, in double precision, so that
 * bits per token and perplexity come from totals (SPEC 7), never from a mean of per-batch means.
 *
 * ```ts
 * const totals = new NllAccumulator();
 * totals.add(batch.nllSum, batch.count);   // for every batch, in order
 * totals.bitsPerToken();
 * ```
 */
export class NllAccumulator {
  #nllSum = 0;
  #count = 0;
  #words = 0;

  /** Adds a batch total: `nllSum` nats over `count` predicted tokens. */
  add(nllSum: number, count: number): void {
    requireFiniteNonNegative('NllAccumulator.add', 'nllSum', nllSum, 'Skip or report non-finite batches before adding.');
    requireFiniteNonNegative('NllAccumulator.add', 'count', count, 'Pass the number of predicted tokens.');
    if (!Number.isInteger(count)) {
      throw new InvalidMetricInputError({
        operation: 'NllAccumulator.add',
        parameter: 'count',
        expected: 'an integer number of tokens',
        actual: describeValue(count),
        fix: 'Pass the number of predicted tokens, not a mean.',
      });
    }
    this.#nllSum += nllSum;
    this.#count += count;
  }

  /**
   * Adds per-token NLL values (nats). With a `mask` of the same length, only positions where the
   * mask is > 0 are counted (each counted once, whatever the mask value).
   */
  addTokenNll(values: ArrayLike<number>, mask?: ArrayLike<number>): void {
    if (mask !== undefined && mask.length !== values.length) {
      throw new InvalidMetricInputError({
        operation: 'NllAccumulator.addTokenNll',
        parameter: 'mask',
        expected: `the same length as values (${values.length})`,
        actual: `length ${mask.length}`,
        fix: 'Flatten values and mask the same way ([batch * time]).',
      });
    }
    let sum = 0;
    let count = 0;
    for (let index = 0; index < values.length; index += 1) {
      if (mask !== undefined && !((mask[index] ?? 0) > 0)) continue;
      const value = values[index] ?? Number.NaN;
      if (!Number.isFinite(value) || value < 0) {
        throw new InvalidMetricInputError({
          operation: 'NllAccumulator.addTokenNll',
          parameter: `values[${index}]`,
          expected: 'a finite NLL >= 0',
          actual: describeValue(value),
        });
      }
      sum += value;
      count += 1;
    }
    this.#nllSum += sum;
    this.#count += count;
  }

  /** Adds words of the evaluated text (for word-level perplexity). */
  addWords(words: number): void {
    requireFiniteNonNegative('NllAccumulator.addWords', 'words', words, 'Pass countWords(text) of the evaluated text.');
    this.#words += words;
  }

  /** Adds everything another accumulator holds. */
  merge(other: NllAccumulator): void {
    this.#nllSum += other.nllSum;
    this.#count += other.count;
    this.#words += other.words;
  }

  get nllSum(): number {
    return this.#nllSum;
  }

  get count(): number {
    return this.#count;
  }

  get words(): number {
    return this.#words;
  }

  #requireTokens(metric: string): void {
    if (this.#count === 0) {
      throw new EmptyMetricError(`NllAccumulator.${metric}`, 'Add at least one predicted token before reading it.');
    }
  }

  meanNll(): number {
    this.#requireTokens('meanNll');
    return meanNll(this.#nllSum, this.#count);
  }

  bitsPerToken(): number {
    this.#requireTokens('bitsPerToken');
    return bitsPerToken(this.#nllSum, this.#count);
  }

  perplexity(): number {
    this.#requireTokens('perplexity');
    return perplexity(this.#nllSum, this.#count);
  }

  wordLevelPerplexity(): number {
    if (this.#words === 0) {
      throw new EmptyMetricError(
        'NllAccumulator.wordLevelPerplexity',
        'Call addWords(countWords(text)) for the evaluated text first.',
      );
    }
    return wordLevelPerplexity(this.#nllSum, this.#words);
  }

  /** Every metric at once (word-level fields only when words were added). */
  summary(): NllSummary {
    const summary: NllSummary = {
      nllSum: this.#nllSum,
      count: this.#count,
      meanNll: this.meanNll(),
      bitsPerToken: this.bitsPerToken(),
      perplexity: this.perplexity(),
    };
    if (this.#words > 0) {
      summary.words = this.#words;
      summary.wordLevelPerplexity = this.wordLevelPerplexity();
    }
    return summary;
  }
}
