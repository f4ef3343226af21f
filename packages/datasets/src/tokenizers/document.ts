// Tokenizers from their saved JSON documents (fingerprint checked) and the vocabulary check a checkpoint runs on load.
import { TokenizerFileError, VocabularyMismatchError } from '../errors.js';
import { ByteTokenizer } from './byte.js';
import { CharacterTokenizer } from './character.js';
import { isHuggingFaceTokenizerDocument, SubwordTokenizer } from './subword.js';
import type { Tokenizer, TokenizerDocument } from './types.js';
import { WordTokenizer } from './word.js';

/** Any of the four tokenizers. */
export type AnyTokenizer = ByteTokenizer | CharacterTokenizer | WordTokenizer | SubwordTokenizer;

/**
 * Rebuilds a tokenizer from its saved document, or from a Hugging Face tokenizer.json (a
 * SubwordTokenizer); throws if the document is malformed or its fingerprint does not match its contents.
 */
export function tokenizerFromDocument(document: unknown, source = 'tokenizer document'): AnyTokenizer {
  if (typeof document !== 'object' || document === null) throw new TokenizerFileError(source, 'it is not a JSON object');
  if (isHuggingFaceTokenizerDocument(document) && (document as { format?: unknown }).format === undefined) {
    return SubwordTokenizer.fromHuggingFace(document, source);
  }
  const candidate = document as Partial<TokenizerDocument>;
  if (candidate.format !== 'engram-tokenizer') throw new TokenizerFileError(source, `"format" is ${JSON.stringify(candidate.format)}, expected "engram-tokenizer" (or a Hugging Face tokenizer.json with a "model" object)`);
  if (candidate.version !== 1) throw new TokenizerFileError(source, `"version" is ${JSON.stringify(candidate.version)}, this package reads version 1`);
  let tokenizer: AnyTokenizer;
  try {
    if (candidate.kind === 'byte') tokenizer = new ByteTokenizer();
    else if (candidate.kind === 'character') tokenizer = new CharacterTokenizer(requireVocabulary(candidate, source));
    else if (candidate.kind === 'word') {
      tokenizer = new WordTokenizer(requireVocabulary(candidate, source), { endOfLine: candidate.endOfLine ?? true });
    } else throw new TokenizerFileError(source, `"kind" is ${JSON.stringify(candidate.kind)}, expected "byte", "character" or "word"`);
  } catch (error) {
    if (error instanceof TokenizerFileError) throw error;
    throw new TokenizerFileError(source, error instanceof Error ? error.message : String(error), { cause: error });
  }
  if (typeof candidate.fingerprint !== 'string') throw new TokenizerFileError(source, '"fingerprint" is missing');
  if (candidate.fingerprint !== tokenizer.fingerprint) {
    throw new TokenizerFileError(source, `its recorded fingerprint ${candidate.fingerprint} does not match its vocabulary (${tokenizer.fingerprint}); the file was edited or damaged`);
  }
  return tokenizer;
}

/**
 * Throws {@link VocabularyMismatchError} unless the tokenizer's fingerprint equals
 * `expectedFingerprint`. `source` names what the expectation came from (a checkpoint path).
 */
export function assertSameVocabulary(tokenizer: Tokenizer, expectedFingerprint: string, source: string, expectedVocabSize?: number): void {
  if (tokenizer.fingerprint === expectedFingerprint) return;
  const detail =
    expectedVocabSize === undefined
      ? `this ${tokenizer.kind} tokenizer has ${tokenizer.vocabSize} tokens`
      : `expected ${expectedVocabSize} tokens, this ${tokenizer.kind} tokenizer has ${tokenizer.vocabSize}`;
  throw new VocabularyMismatchError(source, expectedFingerprint, tokenizer.fingerprint, detail);
}

function requireVocabulary(document: Partial<TokenizerDocument>, source: string): string[] {
  const vocabulary = document.vocabulary;
  if (!Array.isArray(vocabulary) || vocabulary.some((entry) => typeof entry !== 'string')) {
    throw new TokenizerFileError(source, '"vocabulary" must be an array of strings');
  }
  return vocabulary;
}
