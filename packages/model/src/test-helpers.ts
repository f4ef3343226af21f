// Shared helpers of the model tests (not exported from the package).
import * as tf from '@tensorflow/tfjs';
import { createRandom } from '@engram/attention';
import type { ModelConfig } from './config.js';

/** A tiny configuration: every test stays within D <= 32, L <= 2, T <= 8, V <= 32. */
export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    vocabSize: 11,
    modelDim: 16,
    numHeads: 2,
    numLayers: 2,
    feedForwardDim: 24,
    segmentLength: 4,
    initStandardDeviation: 0.3,
    seed: 1,
    ...overrides,
  };
}

/** `[rows][length]` random tokens in [0, vocab), seeded. */
export function randomTokens(rows: number, length: number, vocab: number, seed: number): number[][] {
  const random = createRandom(seed);
  return Array.from({ length: rows }, () => Array.from({ length }, () => Math.floor(random() * vocab)));
}

/** Columns [start, end) of every row as an int32 tensor. */
export function columns(tokens: number[][], start: number, end: number): tf.Tensor2D {
  return tf.tensor2d(tokens.map((row) => row.slice(start, end)), undefined, 'int32');
}
