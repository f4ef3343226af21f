// Saving and loading tokenizers as JSON files (atomic write).
import { readFile } from 'node:fs/promises';
import { TokenizerFileError } from '../errors.js';
import { writeFileAtomic } from '@engram/core/node';
import { assertSameVocabulary, tokenizerFromDocument, type AnyTokenizer } from './document.js';
import type { Tokenizer } from './types.js';

/** Writes the tokenizer to `path` as JSON, atomically (temporary file + rename); a subword tokenizer is written as a Hugging Face tokenizer.json. */
export async function saveTokenizer(tokenizer: Tokenizer, path: string): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(tokenizer.toDocument())}\n`);
}

/**
 * Loads a tokenizer saved with {@link saveTokenizer}, or any Hugging Face tokenizer.json. With `expectedFingerprint` (e.g. the
 * one stored in a checkpoint), a different vocabulary raises {@link VocabularyMismatchError}.
 */
export async function loadTokenizer(path: string, options: { expectedFingerprint?: string } = {}): Promise<AnyTokenizer> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new TokenizerFileError(path, error instanceof Error ? error.message : String(error), { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new TokenizerFileError(path, `it is not valid JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  const tokenizer = tokenizerFromDocument(document, path);
  if (options.expectedFingerprint !== undefined) assertSameVocabulary(tokenizer, options.expectedFingerprint, path);
  return tokenizer;
}
