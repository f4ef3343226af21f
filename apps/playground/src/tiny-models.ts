// The tiny model of each kind the page trains in the tab: a shared small shape and each kind's memory policy.
import { createAdaptiveSpanPolicy } from '@engram/adaptive-span';
import { createCompressivePolicy, createMeanPoolCompressor } from '@engram/compression';
import { createExpireSpanPolicy } from '@engram/expire-span';
import { createFifoPolicy, type MemoryPolicy } from '@engram/memory';
import type { ModelConfig } from '@engram/model';

export const TINY_KINDS = ['txl', 'compressive', 'expire-span', 'adaptive-span'] as const;
export type TinyKind = (typeof TINY_KINDS)[number];

/** Tokens per segment of every tiny model. */
export const TINY_SEGMENT = 16;

/** The model shape (vocabSize from the tokenizer). */
export function tinyModelConfig(vocabSize: number): ModelConfig {
  return { vocabSize, modelDim: 32, numHeads: 2, numLayers: 2, feedForwardDim: 64, segmentLength: TINY_SEGMENT, seed: 1 };
}

/** A new policy of `kind`, sized so each keeps a few segments of memory. */
export function tinyPolicy(kind: TinyKind): MemoryPolicy {
  switch (kind) {
    case 'txl':
      return createFifoPolicy({ memoryLength: 2 * TINY_SEGMENT });
    case 'compressive':
      return createCompressivePolicy({ memoryLength: TINY_SEGMENT, compressedLength: TINY_SEGMENT, compressor: createMeanPoolCompressor({ rate: 2 }), seed: 1 });
    case 'expire-span':
      return createExpireSpanPolicy({ maxSpan: 4 * TINY_SEGMENT, ramp: 8, alpha: 1e-3, seed: 1 });
    case 'adaptive-span':
      return createAdaptiveSpanPolicy({ maxSpan: 4 * TINY_SEGMENT, ramp: 8, alpha: 1e-3 });
  }
}
