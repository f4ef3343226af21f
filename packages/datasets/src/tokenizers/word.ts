// Word-level tokenizer: whitespace-separated words with a vocabulary from the training text, an unknown-word token and an end-of-line token per line (the WikiText-103 convention).
import { InvalidArgumentError } from '../errors.js';
import { tokenizerFingerprint } from './fingerprint.js';
import { ListedVocabularyTokenizer } from './listed-vocabulary.js';
import type { Tokenizer, TokenizerDocument } from './types.js';
import { assertTokenId } from './validate.js';

/** Id 0: ends every line when `endOfLine` is on. */
export const END_OF_LINE_TOKEN = '<eos>';
/** Id 1: a word outside the vocabulary. WikiText's own `<unk>` words map here too. */
export const UNKNOWN_WORD_TOKEN = '<unk>';

const WHITESPACE = /\s+/;

/** Options of a word vocabulary. */
export interface WordVocabularyOptions {
  /** Keep words seen at least this often in the training text (default 1: every word). */
  minimumCount?: number;
  /** Keep at most this many words, the most frequent first (default: no limit). Special tokens are extra. */
  maximumWords?: number;
  /** Append `<eos>` after every line (default true, as for WikiText-103). */
  endOfLine?: boolean;
}

/** Counts words of a text given in pieces (each piece must end at a line or word boundary). */
export class WordVocabularyBuilder {
  private readonly counts = new Map<string, number>();

  /** Adds the words of `text`. */
  add(text: string): void {
    for (const word of text.split(WHITESPACE)) {
      if (word === '' || word === END_OF_LINE_TOKEN || word === UNKNOWN_WORD_TOKEN) continue;
      this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    }
  }

  /** Number of distinct words seen so far. */
  get distinctWords(): number {
    return this.counts.size;
  }

  /**
   * The tokenizer. Ids: 0 `<eos>`, 1 `<unk>`, then the kept words by falling count, ties
   * broken by string order (so the same text always gives the same ids).
   */
  build(options: WordVocabularyOptions = {}): WordTokenizer {
    const minimumCount = options.minimumCount ?? 1;
    if (!Number.isInteger(minimumCount) || minimumCount < 1) {
      throw new InvalidArgumentError('minimumCount', 'an integer >= 1', minimumCount);
    }
    const maximumWords = options.maximumWords ?? Number.POSITIVE_INFINITY;
    if (maximumWords !== Number.POSITIVE_INFINITY && (!Number.isInteger(maximumWords) || maximumWords < 0)) {
      throw new InvalidArgumentError('maximumWords', 'a non-negative integer', maximumWords);
    }
    const entries = [...this.counts.entries()].filter(([, count]) => count >= minimumCount);
    entries.sort((left, right) => right[1] - left[1] || (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0));
    const kept = entries.slice(0, Math.min(entries.length, maximumWords)).map(([word]) => word);
    return new WordTokenizer([END_OF_LINE_TOKEN, UNKNOWN_WORD_TOKEN, ...kept], { endOfLine: options.endOfLine ?? true });
  }
}

/**
 * Word-level tokenizer. `encode` splits the text into lines (a final newline does not open an
 * empty line), each line into whitespace-separated words, and appends `<eos>` after each
 * line. `decode` joins words with one space and turns `<eos>` into a newline, so
 * `decode(encode(text))` is the text with each run of spaces/tabs made one space, lines
 * trimmed, unknown words shown as `<unk>`, and a newline after the last line.
 */
export class WordTokenizer extends ListedVocabularyTokenizer implements Tokenizer {
  readonly kind = 'word' as const;
  readonly fingerprint: string;
  readonly endOfLine: boolean;
  private readonly ids = new Map<string, number>();

  /** @param vocabulary token strings by id: `<eos>`, `<unk>`, then distinct words without whitespace. */
  constructor(vocabulary: readonly string[], options: { endOfLine?: boolean } = {}) {
    super(vocabulary);
    if (vocabulary[0] !== END_OF_LINE_TOKEN || vocabulary[1] !== UNKNOWN_WORD_TOKEN) {
      throw new InvalidArgumentError('vocabulary', `a list starting with "${END_OF_LINE_TOKEN}", "${UNKNOWN_WORD_TOKEN}"`, vocabulary.slice(0, 2));
    }
    for (let id = 0; id < vocabulary.length; id += 1) {
      const word = vocabulary[id] as string;
      if (id >= 2 && (word === '' || /\s/.test(word))) {
        throw new InvalidArgumentError(`vocabulary[${id}]`, 'a non-empty word without whitespace', word);
      }
      if (this.ids.has(word)) throw new InvalidArgumentError(`vocabulary[${id}]`, 'a word not listed before', word);
      this.ids.set(word, id);
    }
    this.endOfLine = options.endOfLine ?? true;
    this.fingerprint = tokenizerFingerprint('word', this.vocabulary, { endOfLine: this.endOfLine });
  }

  /** A tokenizer whose vocabulary is built from `trainingText`. */
  static fromText(trainingText: string, options: WordVocabularyOptions = {}): WordTokenizer {
    const builder = new WordVocabularyBuilder();
    builder.add(trainingText);
    return builder.build(options);
  }

  /** Id of the end-of-line token. */
  get endOfLineId(): number {
    return 0;
  }

  /** Id of the unknown-word token. */
  get unknownId(): number {
    return 1;
  }

  encode(text: string): Int32Array {
    const output: number[] = [];
    if (text.length === 0) return new Int32Array(0);
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (const line of lines) {
      for (const word of line.split(WHITESPACE)) {
        if (word === '') continue;
        output.push(this.ids.get(word) ?? 1);
      }
      if (this.endOfLine) output.push(0);
    }
    return Int32Array.from(output);
  }

  decode(ids: ArrayLike<number>): string {
    let text = '';
    let lineStart = true;
    for (let index = 0; index < ids.length; index += 1) {
      const id = ids[index] as number;
      assertTokenId(id, this.vocabSize, index);
      if (id === 0) {
        text += '\n';
        lineStart = true;
        continue;
      }
      text += (lineStart ? '' : ' ') + (this.vocabulary[id] as string);
      lineStart = false;
    }
    return text;
  }

  toDocument(): TokenizerDocument {
    return {
      format: 'engram-tokenizer',
      version: 1,
      kind: 'word',
      vocabulary: [...this.vocabulary],
      endOfLine: this.endOfLine,
      fingerprint: this.fingerprint,
    };
  }
}

/** A word tokenizer built from a training text. */
export function createWordTokenizer(trainingText: string, options: WordVocabularyOptions = {}): WordTokenizer {
  return WordTokenizer.fromText(trainingText, options);
}
