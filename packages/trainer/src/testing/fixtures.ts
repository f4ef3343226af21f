// Tiny models and texts shared by the trainer's tests and its kill-and-resume child process.
import { createByteTokenizer, StreamBatcher } from '@engram/datasets';
import { createModel } from '@engram/model';
import type { MemoryTransformer } from '@engram/model';

/** A short deterministic text (about 1 KB). */
export const TINY_TEXT = Array.from(
  { length: 24 },
  (_, index) => `Line ${index}: the quick brown fox jumps over the lazy dog ${index % 5} times.\n`,
).join('');

/** Byte tokens of {@link TINY_TEXT}. */
export function tinyTokens(): Int32Array {
  return createByteTokenizer().encode(TINY_TEXT);
}

/** A two-layer model of width 16 over bytes, segment length 8 (a few thousand parameters). */
export function createTinyModel(seed = 7, options: { dropout?: number } = {}): MemoryTransformer {
  return createModel({
    vocabSize: 256,
    modelDim: 16,
    numHeads: 2,
    numLayers: 2,
    feedForwardDim: 32,
    segmentLength: 8,
    seed,
    dropout: options.dropout ?? 0,
  });
}

/** Training batches of {@link TINY_TEXT}: 2 rows, segments of 8 bytes. */
export function createTinyBatcher(): StreamBatcher {
  return new StreamBatcher(tinyTokens(), { batchSize: 2, segmentLength: 8 });
}
