// The inspect timeline against what each policy must keep: FIFO keeps exactly the last M positions, compressed blocks cover c tokens.
import * as tf from '@tensorflow/tfjs';
import { createFifoPolicy } from '@engram/memory';
import { createModel } from '@engram/model';
import { createCompressivePolicy, createMeanPoolCompressor, createMostUsedCompressor } from '@engram/compression';
import { createExpireSpanPolicy } from '@engram/expire-span';
import { describe, expect, it } from 'vitest';
import { compressedCoverage, recordMemoryTimeline } from './timeline.js';
import { finalCounts, renderMemoryTimelineSvg, SlotCode } from './picture.js';

const shape = { vocabSize: 11, modelDim: 16, numHeads: 2, numLayers: 2, feedForwardDim: 32, segmentLength: 8, seed: 3 };
const ids = Int32Array.from({ length: 44 }, (_, index) => (index * 7) % 11);

describe('compressedCoverage', () => {
  it('maps a block slot back to its c tokens and a most-used slot to its own token', () => {
    expect(compressedCoverage(1, 4, 'mean-pool')).toEqual([0, 1, 2, 3]);
    expect(compressedCoverage(4, 3, 'conv')).toEqual([3, 4, 5]);
    expect(compressedCoverage(9, 4, 'most-used')).toEqual([9]);
  });
});

describe('recordMemoryTimeline', () => {
  it('FIFO: after each step, exactly the last M read positions are in memory and the rest is forgotten', () => {
    const model = createModel(shape, { policy: createFifoPolicy({ memoryLength: 12 }) });
    const before = tf.memory().numTensors;
    const timeline = recordMemoryTimeline(model, ids, { title: 't' });
    expect(tf.memory().numTensors).toBe(before);
    expect(timeline.tokens).toBe(40);
    timeline.layers[0]?.forEach((row, step) => {
      const read = (step + 1) * 8;
      const expected = Array.from({ length: 40 }, (_, position) =>
        position >= read ? SlotCode.future : position >= read - 12 ? SlotCode.memory : SlotCode.forgotten,
      );
      expect(Array.from(row)).toEqual(expected);
    });
    expect(finalCounts(timeline)[1]).toEqual({ future: 0, memory: 12, buffered: 0, compressed: 0, expired: 0, forgotten: 28 });
    model.dispose();
  });

  it('compressive: evicted blocks show as compressed until the compressed memory drops them', () => {
    const policy = createCompressivePolicy({ memoryLength: 8, compressedLength: 3, compressor: createMeanPoolCompressor({ rate: 4 }) });
    const model = createModel(shape, { policy });
    const timeline = recordMemoryTimeline(model, ids, { title: 't' });
    // 40 tokens read: regular memory holds 32..39, compressed slots summarise 20..31 (3 blocks of 4), the rest is gone.
    const last = timeline.layers[0]?.[4];
    expect(Array.from(last ?? [])).toEqual(
      Array.from({ length: 40 }, (_, position) =>
        position >= 32 ? SlotCode.memory : position >= 20 ? SlotCode.compressed : SlotCode.forgotten,
      ),
    );
    model.dispose();
  });

  it('most-used: only the kept tokens show as compressed', () => {
    const policy = createCompressivePolicy({ memoryLength: 8, compressedLength: 2, compressor: createMostUsedCompressor({ rate: 4 }) });
    const model = createModel(shape, { policy });
    const timeline = recordMemoryTimeline(model, ids, { title: 't' });
    const counts = finalCounts(timeline)[0];
    expect(counts).toEqual({ future: 0, memory: 8, buffered: 0, compressed: 2, expired: 0, forgotten: 30 });
    model.dispose();
  });

  it('expire-span: stored memories past their span + ramp show as expired until a whole segment can be pruned', () => {
    // Untrained spans are all initFraction * maxSpan = 10, ramp 2: a memory is masked for good at age >= 12.
    const policy = createExpireSpanPolicy({ maxSpan: 64, ramp: 2, initFraction: 10 / 64 });
    const model = createModel(shape, { policy });
    const timeline = recordMemoryTimeline(model, ids.subarray(0, 24), { title: 't' });
    const codes = (from: number, to: number, code: number) => Array.from({ length: to - from }, () => code);
    // After 16 tokens: ages 12..16 (positions 0..4) expired but kept (5 droppable rounds down to 0 segments).
    expect(Array.from(timeline.layers[0]?.[1] ?? [])).toEqual([
      ...codes(0, 5, SlotCode.expired),
      ...codes(5, 16, SlotCode.memory),
      ...codes(16, 24, SlotCode.future),
    ]);
    // After 24 tokens: 13 droppable rounds down to one segment (0..7, forgotten); 8..12 stay stored but expired.
    expect(Array.from(timeline.layers[1]?.[2] ?? [])).toEqual([
      ...codes(0, 8, SlotCode.forgotten),
      ...codes(8, 13, SlotCode.expired),
      ...codes(13, 24, SlotCode.memory),
    ]);
    model.dispose();
  });

  it('renders one rectangle per run of equal status', () => {
    const svg = renderMemoryTimelineSvg({
      title: 'a & b',
      tokens: 4,
      segmentLength: 2,
      layers: [[Uint8Array.from([1, 1, 0, 0]), Uint8Array.from([5, 1, 1, 3])]],
      characters: ['a', ' ', '\n', '<'],
    });
    expect(svg).toContain('a &amp; b');
    // legend (6) + runs: [memory x2] then [forgotten, memory x2, compressed] = 1 + 3 runs
    expect(svg.match(/<rect x="\d[^"]*" y="\d+" width="[\d.]+" height="\d+" fill="#/g)?.length).toBe(6 + 4);
    expect(svg).toContain('&lt;');
  });
});
