// SHA-256 of a token array, for the log header's dataset checksum (identifies exactly which tokens a run trained on).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * SHA-256 (hex) of a token array: its element type and its bytes in little-endian order, so the
 * same ids stored as `Uint8Array` and `Int32Array` give different checksums (they are different files).
 * Pass the result as `train({ datasetChecksum })`.
 */
export function tokensChecksum(tokens: Int32Array | Uint8Array | Uint16Array): string {
  const hash = sha256.create();
  hash.update(utf8ToBytes(`${tokens.constructor.name}:${tokens.length}:`));
  if (tokens instanceof Uint8Array) {
    hash.update(tokens);
  } else {
    const bytes = new Uint8Array(tokens.length * tokens.BYTES_PER_ELEMENT);
    const view = new DataView(bytes.buffer);
    tokens.forEach((value, index) => {
      if (tokens instanceof Int32Array) view.setInt32(index * 4, value, true);
      else view.setUint16(index * 2, value, true);
    });
    hash.update(bytes);
  }
  return bytesToHex(hash.digest());
}
