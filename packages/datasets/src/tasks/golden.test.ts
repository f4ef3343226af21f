// Pins the generated data bit for bit: FNV-1a hashes of task episodes, task batches and streams, and stream batches, recorded before the task and batcher skeletons were shared.
import { describe, expect, it } from 'vitest';
import { StreamBatcher } from '../batching/stream-batcher.js';
import { SeededRandom } from '../random.js';
import { TaskStream, generateTaskBatch } from './batches.js';
import { createObjectCollisionTask } from './collision.js';
import { createCopyTask } from './copy.js';
import { createTopicRecallTask } from './topic-recall.js';
import type { LongRangeTask } from './types.js';
import { createVariableTrackingTask } from './variable-tracking.js';

/** 32-bit FNV-1a over the values of the arrays in order (each value taken as a 32-bit integer, floats scaled by 2^16). */
function hash(...arrays: ArrayLike<number>[]): string {
  let value = 0x811c9dc5;
  for (const array of arrays) {
    for (let index = 0; index < array.length; index += 1) {
      const item = array[index] as number;
      const word = Number.isInteger(item) ? item | 0 : Math.round(item * 65536) | 0;
      for (let shift = 0; shift < 32; shift += 8) {
        value ^= (word >>> shift) & 0xff;
        value = Math.imul(value, 0x01000193) >>> 0;
      }
    }
  }
  return value.toString(16).padStart(8, '0');
}

/** Hash of 20 episodes (seeds 0..19) of `task`. */
function episodesHash(task: LongRangeTask): string {
  const arrays: ArrayLike<number>[] = [];
  for (let seed = 0; seed < 20; seed += 1) {
    const episode = task.sampleEpisode(new SeededRandom(seed));
    arrays.push(episode.tokens, episode.labelled);
  }
  return hash(...arrays);
}

const tasks: [string, () => LongRangeTask][] = [
  ['copy defaults', () => createCopyTask()],
  ['copy small', () => createCopyTask({ payloadLength: 5, delay: 17, alphabetSize: 3, distractorAlphabetSize: 1 })],
  ['topic-recall defaults', () => createTopicRecallTask()],
  ['topic-recall small', () => createTopicRecallTask({ topics: 3, symbolsPerTopic: 3, blockLength: 9, purity: 0.8, delay: 11, distractorAlphabetSize: 4 })],
  ['variable-tracking defaults', () => createVariableTrackingTask()],
  ['variable-tracking small', () => createVariableTrackingTask({ variables: 3, modulus: 7, statements: 20, assignProbability: 0.3, incrementProbability: 0.3 })],
  ['object-collision defaults', () => createObjectCollisionTask()],
  ['object-collision small', () => createObjectCollisionTask({ gridSize: 6, particles: 2, colours: 5, steps: 30, minimumAnswerAge: 3, questionProbability: 0.5 })],
];

const expectedEpisodes: Record<string, string> = {
  'copy defaults': '36b4a9b2',
  'copy small': 'f9212885',
  'topic-recall defaults': 'c5c30bcb',
  'topic-recall small': 'dcdd8422',
  'variable-tracking defaults': '8223f37e',
  'variable-tracking small': 'fa586dc5',
  'object-collision defaults': '28b3a6b6',
  'object-collision small': 'a60df33c',
};

describe('generated data stays bit-identical', () => {
  it.each(tasks)('%s: 20 episodes', (name, create) => {
    expect(episodesHash(create())).toBe(expectedEpisodes[name]);
  });

  it('task batches and staggered and plain task streams', () => {
    const task = createVariableTrackingTask({ statements: 12 });
    const batch = generateTaskBatch(task, { batchSize: 3, seed: 9 });
    const streams = [false, true].map((stagger) => {
      const stream = new TaskStream(createCopyTask({ payloadLength: 3, delay: 9 }), { batchSize: 3, segmentLength: 5, seed: 4, stagger });
      const arrays: ArrayLike<number>[] = [];
      for (let step = 0; step < 7; step += 1) {
        const next = stream.next();
        arrays.push(next.inputs, next.targets, next.mask ?? [], [next.step, next.targetCount]);
      }
      return hash(...arrays);
    });
    expect({ batch: hash(batch.inputs, batch.targets, batch.mask, [batch.targetCount]), streams }).toEqual(expectedBatches);
  });

  it('stream batches over several epochs', () => {
    const tokens = Int32Array.from({ length: 211 }, (_, index) => (index * 37 + 11) % 53);
    const batcher = new StreamBatcher(tokens, { batchSize: 3, segmentLength: 7 });
    const arrays: ArrayLike<number>[] = [];
    for (let step = 0; step < 25; step += 1) {
      const next = batcher.next();
      arrays.push(next.inputs, next.targets, [next.step, next.epoch, next.startsEpoch ? 1 : 0, next.targetCount]);
    }
    expect(hash(...arrays)).toBe(expectedStreamBatches);
  });
});

const expectedBatches = { batch: 'e85a99ad', streams: ['9910491a', '26f53851'] };
const expectedStreamBatches = 'b47804fa';
