// Tests of the token checksum recorded in log headers.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tokensChecksum } from './dataset-checksum.js';

describe('tokensChecksum', () => {
  it('is the SHA-256 of the type, length and little-endian bytes', () => {
    const expected = createHash('sha256').update('Int32Array:2:').update(Uint8Array.from([1, 0, 0, 0, 0, 1, 0, 0])).digest('hex');
    expect(tokensChecksum(Int32Array.from([1, 256]))).toBe(expected);
    expect(tokensChecksum(Uint8Array.from([1, 2]))).toBe(
      createHash('sha256').update('Uint8Array:2:').update(Uint8Array.from([1, 2])).digest('hex'),
    );
  });

  it('changes with any token and with the element type', () => {
    const base = tokensChecksum(Int32Array.from([5, 6, 7]));
    expect(tokensChecksum(Int32Array.from([5, 6, 8]))).not.toBe(base);
    expect(tokensChecksum(Uint8Array.from([5, 6, 7]))).not.toBe(base);
    expect(tokensChecksum(Int32Array.from([5, 6, 7]))).toBe(base);
  });
});
