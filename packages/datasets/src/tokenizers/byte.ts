// Byte-level tokenizer: the 256 byte values of the UTF-8 encoding are the vocabulary (enwik8's standard bits-per-byte setting).
import { countWords } from '../corpora/parts.js';
import { tokenizerFingerprint } from './fingerprint.js';
import type { Tokenizer, TokenizerDocument } from './types.js';
import { assertTokenId } from './validate.js';

const encoder = new TextEncoder();
const lenientDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Byte-level tokenizer: id = byte value, vocabulary size 256. Accepts any bytes. */
export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte' as const;
  readonly vocabSize = 256;
  readonly fingerprint = tokenizerFingerprint('byte', null, { vocabSize: 256 });

  /** UTF-8 bytes of the text, as ids. */
  encode(text: string): Int32Array {
    return this.encodeBytes(encoder.encode(text));
  }

  /** Raw bytes as ids (no decoding, so invalid UTF-8 is fine). */
  encodeBytes(bytes: Uint8Array): Int32Array {
    return Int32Array.from(bytes);
  }

  /** The bytes of the ids. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const bytes = new Uint8Array(ids.length);
    for (let index = 0; index < ids.length; index += 1) {
      const id = ids[index] as number;
      assertTokenId(id, 256, index);
      bytes[index] = id;
    }
    return bytes;
  }

  /** Text of the bytes; invalid UTF-8 (e.g. a sequence cut by sampling) becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return lenientDecoder.decode(this.decodeBytes(ids));
  }

  countWords(text: string): number {
    return countWords(text);
  }

  tokenName(id: number): string {
    assertTokenId(id, 256, 0);
    return `0x${id.toString(16).padStart(2, '0')}`;
  }

  toDocument(): TokenizerDocument {
    return { format: 'engram-tokenizer', version: 1, kind: 'byte', fingerprint: this.fingerprint };
  }
}

/** The byte-level tokenizer (vocabulary 256). */
export function createByteTokenizer(): ByteTokenizer {
  return new ByteTokenizer();
}
