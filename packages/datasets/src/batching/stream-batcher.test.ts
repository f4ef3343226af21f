// Tests of SPEC 7 batching: contiguous rows, step k = tokens [kT, (k+1)T) of each row, resumable state, epoch wrap, and evaluation covering every target exactly once and in order.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { batchToTensors, disposeBatchTensors } from '../tensors.js';
import { StreamBatcher, evaluationBatches, planEvaluation, type TokenBatch } from './stream-batcher.js';

/** Token i has value i, so every id tells its position in the stream. */
function positions(count: number): Int32Array {
  return Int32Array.from({ length: count }, (_, index) => index);
}

function row(values: Int32Array | Float32Array, rowIndex: number, length: number): number[] {
  return [...values.subarray(rowIndex * length, (rowIndex + 1) * length)];
}

describe('StreamBatcher', () => {
  it('feeds tokens [kT, (k+1)T) of each contiguous row at step k, targets shifted by one', () => {
    const tokens = positions(101);
    const batcher = new StreamBatcher(tokens, { batchSize: 4, segmentLength: 5 });
    expect(batcher.rowLength).toBe(25);
    expect(batcher.stepsPerEpoch).toBe(5);
    for (let step = 0; step < 5; step += 1) {
      const batch = batcher.next();
      expect(batch.shape).toEqual([4, 5]);
      expect(batch.mask).toBeNull();
      for (let rowIndex = 0; rowIndex < 4; rowIndex += 1) {
        const start = rowIndex * 25 + step * 5;
        expect(row(batch.inputs, rowIndex, 5)).toEqual([start, start + 1, start + 2, start + 3, start + 4]);
        expect(row(batch.targets, rowIndex, 5)).toEqual([start + 1, start + 2, start + 3, start + 4, start + 5]);
      }
    }
  });

  it('covers every training target of an epoch once, in order per row', () => {
    const tokens = positions(1 + 3 * 12);
    const batcher = new StreamBatcher(tokens, { batchSize: 3, segmentLength: 4 });
    const seen: number[][] = [[], [], []];
    for (let step = 0; step < batcher.stepsPerEpoch; step += 1) {
      const batch = batcher.next();
      for (let rowIndex = 0; rowIndex < 3; rowIndex += 1) seen[rowIndex]?.push(...row(batch.targets, rowIndex, 4));
    }
    expect(seen.flat()).toEqual(Array.from({ length: 36 }, (_, index) => index + 1));
  });

  it('wraps around at the end of an epoch and flags the restart', () => {
    const batcher = new StreamBatcher(positions(41), { batchSize: 2, segmentLength: 10 });
    const first = batcher.next();
    expect(first.startsEpoch).toBe(false);
    const second = batcher.next();
    expect(second.epoch).toBe(0);
    const third = batcher.next();
    expect(third.epoch).toBe(1);
    expect(third.startsEpoch).toBe(true);
    expect([...third.inputs]).toEqual([...first.inputs]);
  });

  it('resumes from a saved { step } with the exact next batch', () => {
    const tokens = Int32Array.from({ length: 500 }, (_, index) => (index * 7919) % 97);
    const original = new StreamBatcher(tokens, { batchSize: 3, segmentLength: 8 });
    for (let step = 0; step < 11; step += 1) original.next();
    const state = JSON.parse(JSON.stringify(original.getState())) as { step: number };
    expect(state).toEqual({ step: 11 });
    const expected = original.next();
    const restored = new StreamBatcher(tokens, { batchSize: 3, segmentLength: 8 });
    restored.setState(state);
    const actual = restored.next();
    expect([...actual.inputs]).toEqual([...expected.inputs]);
    expect([...actual.targets]).toEqual([...expected.targets]);
    expect(actual.step).toBe(11);
    expect(() => restored.setState({ step: -1 })).toThrow(InvalidArgumentError);
  });

  it('rejects a stream too short for one batch, naming the fix', () => {
    expect(() => new StreamBatcher(positions(20), { batchSize: 4, segmentLength: 5 })).toThrow(/at least batchSize \* segmentLength \+ 1 = 21 tokens/);
    expect(() => new StreamBatcher(positions(20), { batchSize: 0, segmentLength: 5 })).toThrow(/batchSize/);
  });
});

describe('evaluationBatches', () => {
  for (const [count, batchSize, segmentLength] of [
    [101, 4, 5],
    [100, 4, 5],
    [57, 3, 7],
    [10, 4, 16],
    [3, 4, 2],
    [2, 1, 1],
  ] as const) {
    it(`covers every target exactly once and in order per row (N=${count}, B=${batchSize}, T=${segmentLength})`, () => {
      const tokens = positions(count);
      const plan = planEvaluation(count, { batchSize, segmentLength });
      const perRow: number[][] = Array.from({ length: batchSize }, () => []);
      let total = 0;
      let batches = 0;
      for (const batch of evaluationBatches(tokens, { batchSize, segmentLength })) {
        batches += 1;
        expect(batch.shape).toEqual([batchSize, segmentLength]);
        let maskSum = 0;
        for (let rowIndex = 0; rowIndex < batchSize; rowIndex += 1) {
          for (let time = 0; time < segmentLength; time += 1) {
            const index = rowIndex * segmentLength + time;
            if (batch.mask?.[index] === 1) {
              maskSum += 1;
              expect(batch.targets[index]).toBe((batch.inputs[index] as number) + 1);
              perRow[rowIndex]?.push(batch.targets[index] as number);
            } else {
              expect(batch.mask?.[index]).toBe(0);
            }
          }
        }
        expect(batch.targetCount).toBe(maskSum);
        total += batch.targetCount;
      }
      expect(batches).toBe(plan.steps);
      expect(total).toBe(count - 1);
      // Rows are consecutive: concatenated, they list targets 1..N-1 exactly once, in order.
      expect(perRow.flat()).toEqual(Array.from({ length: count - 1 }, (_, index) => index + 1));
      // Within a row, step k continues exactly where step k-1 stopped (memory carries over).
      for (let rowIndex = 0; rowIndex < batchSize; rowIndex += 1) {
        expect(perRow[rowIndex]?.length).toBe(plan.rowLengths[rowIndex]);
      }
    });
  }

  it('pads only at the end of rows', () => {
    const batches: TokenBatch[] = [...evaluationBatches(positions(12), { batchSize: 2, segmentLength: 4 })];
    // 11 targets: rows of 6 and 5; steps of 4 -> second step has 2 and 1 real positions.
    expect(batches.length).toBe(2);
    expect(row(batches[1]?.mask as Float32Array, 0, 4)).toEqual([1, 1, 0, 0]);
    expect(row(batches[1]?.mask as Float32Array, 1, 4)).toEqual([1, 0, 0, 0]);
    expect(row(batches[0]?.inputs as Int32Array, 1, 4)).toEqual([6, 7, 8, 9]);
  });
});

describe('batchToTensors', () => {
  it('makes int32 [B, T] inputs/targets and a float32 mask, without leaking', () => {
    const before = tf.memory().numTensors;
    const batch = [...evaluationBatches(positions(30), { batchSize: 2, segmentLength: 8 })][1] as TokenBatch;
    const tensors = batchToTensors(batch);
    expect(tensors.inputs.shape).toEqual([2, 8]);
    expect(tensors.inputs.dtype).toBe('int32');
    expect(tensors.targets.dtype).toBe('int32');
    expect(tensors.mask?.dtype).toBe('float32');
    expect(Array.from(tensors.targets.dataSync())).toEqual([...batch.targets]);
    expect(Array.from(tensors.mask?.dataSync() ?? [])).toEqual([...(batch.mask ?? [])]);
    disposeBatchTensors(tensors);
    const training = batchToTensors(new StreamBatcher(positions(30), { batchSize: 2, segmentLength: 8 }).next());
    expect(training.mask).toBeNull();
    disposeBatchTensors(training);
    expect(tf.memory().numTensors).toBe(before);
  });
});
