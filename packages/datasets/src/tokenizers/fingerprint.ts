// Stable tokenizer fingerprints: SHA-256 of a canonical JSON of everything that decides token ids.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { TokenizerKind } from './types.js';

/** SHA-256 (hex) of the canonical description of a tokenizer. */
export function tokenizerFingerprint(kind: TokenizerKind, vocabulary: readonly string[] | null, options: Record<string, boolean | number | string> = {}): string {
  const keys = Object.keys(options).sort();
  const canonicalOptions = keys.map((key) => [key, options[key]]);
  const canonical = JSON.stringify(['engram-tokenizer', 1, kind, canonicalOptions, vocabulary]);
  return bytesToHex(sha256(utf8ToBytes(canonical)));
}
