// What the tokenizers with an explicit list of token strings (character, word) share: the list, names by id, and word counting.
import { countWords } from '../corpora/parts.js';
import { assertTokenId } from './validate.js';

/** A tokenizer whose ids index a list of token strings. */
export abstract class ListedVocabularyTokenizer {
  readonly vocabSize: number;
  protected readonly vocabulary: readonly string[];

  /** @param vocabulary token strings by id (copied). */
  protected constructor(vocabulary: readonly string[]) {
    this.vocabulary = [...vocabulary];
    this.vocabSize = vocabulary.length;
  }

  /** Whitespace-separated words of the original text (SPEC 7: word-level perplexity does not depend on the vocabulary). */
  countWords(text: string): number {
    return countWords(text);
  }

  tokenName(id: number): string {
    assertTokenId(id, this.vocabSize, 0);
    return this.vocabulary[id] as string;
  }

  /** Token strings by id (a copy). */
  getVocabulary(): string[] {
    return [...this.vocabulary];
  }
}
