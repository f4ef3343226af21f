// Checks shared by the tokenizers' decode functions.
import { InvalidArgumentError } from '../errors.js';

/** Throws unless `id` is an integer in [0, vocabSize). */
export function assertTokenId(id: number, vocabSize: number, position: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new InvalidArgumentError(
      `ids[${position}]`,
      `an integer token id in [0, ${vocabSize})`,
      id,
      'Decode ids with the same tokenizer (same fingerprint) that produced them.',
    );
  }
}
