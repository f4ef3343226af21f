// Character-level tokenizer: one id per Unicode code point seen in the training text, plus an unknown-character id 0.
import { InvalidArgumentError } from '../errors.js';
import { tokenizerFingerprint } from './fingerprint.js';
import { ListedVocabularyTokenizer } from './listed-vocabulary.js';
import type { Tokenizer, TokenizerDocument } from './types.js';
import { assertTokenId } from './validate.js';

/** Name of id 0, used for characters that never occurred in the training text. */
export const UNKNOWN_CHARACTER_TOKEN = '<unk>';

/** Collects the distinct characters of a text given in pieces (e.g. the chunks of a training split). */
export class CharacterVocabularyBuilder {
  private readonly seen = new Set<number>();

  /** Adds every code point of `text`. */
  add(text: string): void {
    for (let index = 0; index < text.length; ) {
      const codePoint = text.codePointAt(index) as number;
      this.seen.add(codePoint);
      index += codePoint > 0xffff ? 2 : 1;
    }
  }

  /** The tokenizer: id 0 = unknown, then the characters in code-point order. */
  build(): CharacterTokenizer {
    const characters = [...this.seen].sort((left, right) => left - right).map((codePoint) => String.fromCodePoint(codePoint));
    return new CharacterTokenizer([UNKNOWN_CHARACTER_TOKEN, ...characters]);
  }
}

/**
 * Character-level tokenizer. Vocabulary: id 0 is `<unk>` (a character absent from the
 * training text), then every training character in code-point order. Decoding is exact for
 * text whose characters were all in the training text; unknown characters decode as U+FFFD.
 */
export class CharacterTokenizer extends ListedVocabularyTokenizer implements Tokenizer {
  readonly kind = 'character' as const;
  readonly fingerprint: string;
  private readonly basicPlane = new Int32Array(0x10000);
  private readonly otherPlanes = new Map<number, number>();

  /** @param vocabulary token strings by id; entry 0 must be `<unk>`, the others single code points, no repeats. */
  constructor(vocabulary: readonly string[]) {
    super(vocabulary);
    if (vocabulary[0] !== UNKNOWN_CHARACTER_TOKEN) {
      throw new InvalidArgumentError('vocabulary[0]', `"${UNKNOWN_CHARACTER_TOKEN}"`, vocabulary[0]);
    }
    const seen = new Set<number>();
    for (let id = 1; id < vocabulary.length; id += 1) {
      const entry = vocabulary[id] as string;
      const codePoint = entry.codePointAt(0);
      if (codePoint === undefined || entry.length !== (codePoint > 0xffff ? 2 : 1)) {
        throw new InvalidArgumentError(`vocabulary[${id}]`, 'exactly one character', entry);
      }
      if (seen.has(codePoint)) throw new InvalidArgumentError(`vocabulary[${id}]`, 'a character not listed before', entry);
      seen.add(codePoint);
      if (codePoint <= 0xffff) this.basicPlane[codePoint] = id;
      else this.otherPlanes.set(codePoint, id);
    }
    this.fingerprint = tokenizerFingerprint('character', this.vocabulary);
  }

  /** A tokenizer whose vocabulary is the characters of `trainingText`. */
  static fromText(trainingText: string): CharacterTokenizer {
    const builder = new CharacterVocabularyBuilder();
    builder.add(trainingText);
    return builder.build();
  }

  encode(text: string): Int32Array {
    const ids = new Int32Array(text.length);
    let count = 0;
    for (let index = 0; index < text.length; ) {
      const codePoint = text.codePointAt(index) as number;
      ids[count] = codePoint <= 0xffff ? (this.basicPlane[codePoint] as number) : (this.otherPlanes.get(codePoint) ?? 0);
      count += 1;
      index += codePoint > 0xffff ? 2 : 1;
    }
    return count === ids.length ? ids : ids.slice(0, count);
  }

  decode(ids: ArrayLike<number>): string {
    const pieces: string[] = new Array<string>(ids.length);
    for (let index = 0; index < ids.length; index += 1) {
      const id = ids[index] as number;
      assertTokenId(id, this.vocabSize, index);
      pieces[index] = id === 0 ? '\uFFFD' : (this.vocabulary[id] as string);
    }
    return pieces.join('');
  }

  toDocument(): TokenizerDocument {
    return { format: 'engram-tokenizer', version: 1, kind: 'character', vocabulary: [...this.vocabulary], fingerprint: this.fingerprint };
  }
}

/** A character tokenizer built from a training text. */
export function createCharacterTokenizer(trainingText: string): CharacterTokenizer {
  return CharacterTokenizer.fromText(trainingText);
}
