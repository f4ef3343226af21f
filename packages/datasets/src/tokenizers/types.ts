// The tokenizer contract shared by the byte, character, word and subword tokenizers, and the JSON form they are saved in.
import type { HuggingFaceTokenizerDocument } from './subword.js';

/** Which tokenizer (`subword`: a Hugging Face tokenizer.json, e.g. byte-level BPE trained here). */
export type TokenizerKind = 'byte' | 'character' | 'word' | 'subword';

/** The JSON document the byte, character and word tokenizers are saved as (format version 1; subword tokenizers save a Hugging Face tokenizer.json). */
export interface TokenizerDocument {
  format: 'engram-tokenizer';
  version: 1;
  kind: Exclude<TokenizerKind, 'subword'>;
  /** Token strings by id (character and word tokenizers; absent for bytes). */
  vocabulary?: string[];
  /** Word tokenizer: whether an end-of-line token ends every line. */
  endOfLine?: boolean;
  /** The tokenizer's fingerprint when it was saved; checked again on load. */
  fingerprint: string;
}

/** Turns text into token ids and back. */
export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of distinct ids; every id is in [0, vocabSize). */
  readonly vocabSize: number;
  /**
   * A stable SHA-256 (hex) of everything that decides the id of a token. Equal fingerprints
   * mean identical vocabularies; store it in checkpoints and compare on load.
   */
  readonly fingerprint: string;
  /** Token ids of a text. */
  encode(text: string): Int32Array;
  /** Text of token ids (see each tokenizer for what is lost). */
  decode(ids: ArrayLike<number>): string;
  /** Whitespace-separated words of the original text (PG-19 convention for word-level perplexity). */
  countWords(text: string): number;
  /** A readable name of one id, e.g. `"a"`, `"<eos>"`, `"0x0a"`. */
  tokenName(id: number): string;
  /** The saved form (see saveTokenizer). */
  toDocument(): TokenizerDocument | HuggingFaceTokenizerDocument;
}
