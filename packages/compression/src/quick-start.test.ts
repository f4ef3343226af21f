// The README's usage example, run as written.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { quickStart } from '../examples/quick-start.js';

describe('README usage example', () => {
  it('is quoted verbatim in the README', () => {
    const example = readFileSync(new URL('../examples/quick-start.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('trains, compresses from the second segment on, and frees every tensor', () => {
    const before = tf.memory().numTensors;
    const { temporalRange, log } = quickStart(5);
    expect(tf.memory().numTensors).toBe(before);
    expect(temporalRange).toBe(32);
    expect(log.every((entry) => Number.isFinite(entry.loss))).toBe(true);
    expect(log[0]?.compressionLoss).toBeNull();
    expect(log.slice(1).every((entry) => entry.compressionLoss !== null && entry.compressionLoss > 0)).toBe(true);
    expect(log.map((entry) => entry.compressedSlots)).toEqual([
      [0, 0],
      [4, 4],
      [4, 4],
      [4, 4],
      [4, 4],
    ]);
  });
});
