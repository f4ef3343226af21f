// Task batches and task streams: episodes laid out as [B, E] batches, or as endless per-row streams of episodes fed segment by segment with memory (compatible with the SPEC 7 batcher).
import { SteppedSegmentSource, type TokenBatch } from '../batching/stream-batcher.js';
import { InvalidArgumentError } from '../errors.js';
import { SeededRandom, deriveSeed } from '../random.js';
import type { LongRangeTask, TaskEpisode } from './types.js';

/** A `[B, E]` batch of whole episodes (row-major). */
export interface TaskBatch {
  /** `[B, E]`: each row is one episode. */
  inputs: Int32Array;
  /** `[B, E]`: the next token of the stream (the last position's target is the next episode's `<start>`, unlabelled). */
  targets: Int32Array;
  /** `[B, E]`: 1 where the target is a labelled answer. */
  mask: Float32Array;
  shape: readonly [number, number];
  /** Number of labelled positions. */
  targetCount: number;
}

/** The episode of `row` number `episodeIndex` under `seed`: the same in batches and streams. */
export function taskEpisodeAt<Parameters extends object>(task: LongRangeTask<Parameters>, seed: number, row: number, episodeIndex: number): TaskEpisode {
  return task.sampleEpisode(new SeededRandom(deriveSeed(seed, row, episodeIndex)));
}

/**
 * B independent episodes as one batch. Row r holds episode 0 of stream r under `seed`, so
 * the batch equals the first E positions of a {@link TaskStream} with the same seed.
 */
export function generateTaskBatch<Parameters extends object>(task: LongRangeTask<Parameters>, options: { batchSize: number; seed: number }): TaskBatch {
  if (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1) {
    throw new InvalidArgumentError('batchSize', 'a positive integer', options.batchSize);
  }
  const length = task.episodeLength;
  const inputs = new Int32Array(options.batchSize * length);
  const targets = new Int32Array(options.batchSize * length);
  const mask = new Float32Array(options.batchSize * length);
  let targetCount = 0;
  for (let row = 0; row < options.batchSize; row += 1) {
    const episode = taskEpisodeAt(task, options.seed, row, 0);
    const offset = row * length;
    inputs.set(episode.tokens, offset);
    targets.set(episode.tokens.subarray(1), offset);
    targets[offset + length - 1] = task.vocabulary.startId;
    for (let position = 0; position + 1 < length; position += 1) {
      if (episode.labelled[position + 1] === 1) {
        mask[offset + position] = 1;
        targetCount += 1;
      }
    }
  }
  return { inputs, targets, mask, shape: [options.batchSize, length], targetCount };
}

/** Options of a {@link TaskStream}. */
export interface TaskStreamOptions {
  batchSize: number;
  segmentLength: number;
  seed: number;
  /**
   * Start row r at position floor(r * E / B) of its stream instead of 0 (default false), so the rows'
   * answers fall in different segments and every step has some; row r's first, cut episode scores nothing.
   */
  stagger?: boolean;
}

/**
 * A task as an endless stream per row: row r is episode 0, 1, 2, ... of row r under `seed`,
 * back to back. Step k feeds stream positions [kT, (k+1)T) of every row (inputs) and the
 * following token (targets); the mask marks labelled targets. Memory carries over between
 * steps, so answers whose evidence lies in earlier segments need memory. Resumable: the
 * state is `{ step }`, and every episode is regenerated from (seed, row, episode index).
 */
export class TaskStream<Parameters extends object = object> extends SteppedSegmentSource {
  readonly batchSize: number;
  readonly segmentLength: number;
  readonly seed: number;
  private readonly task: LongRangeTask<Parameters>;
  private readonly cache = new Map<string, TaskEpisode>();
  private readonly cacheLimit: number;
  private readonly stagger: boolean;

  constructor(task: LongRangeTask<Parameters>, options: TaskStreamOptions) {
    super();
    for (const name of ['batchSize', 'segmentLength'] as const) {
      const value = options[name];
      if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(name, 'a positive integer', value);
    }
    if (!Number.isSafeInteger(options.seed)) throw new InvalidArgumentError('seed', 'a safe integer', options.seed);
    this.task = task;
    this.batchSize = options.batchSize;
    this.segmentLength = options.segmentLength;
    this.seed = options.seed;
    this.stagger = options.stagger === true;
    this.cacheLimit = this.batchSize * (Math.ceil(this.segmentLength / task.episodeLength) + 2);
  }

  private episode(row: number, index: number): TaskEpisode {
    const key = `${row}:${index}`;
    let episode = this.cache.get(key);
    if (episode === undefined) {
      episode = taskEpisodeAt(this.task, this.seed, row, index);
      this.cache.set(key, episode);
      // Keep the cache small: a segment touches at most a few episodes per row.
      if (this.cache.size > this.cacheLimit) {
        const oldest = this.cache.keys().next().value as string;
        this.cache.delete(oldest);
      }
    }
    return episode;
  }

  private tokenAt(row: number, position: number): { token: number; labelled: number } {
    const length = this.task.episodeLength;
    const shift = this.stagger ? Math.floor((row * length) / this.batchSize) : 0;
    const shifted = position + shift;
    const index = Math.floor(shifted / length);
    const episode = this.episode(row, index);
    const offset = shifted % length;
    // A staggered row starts inside its first episode: that episode's answers lack their evidence, so none is scored.
    const labelled = shift > 0 && index === 0 ? 0 : (episode.labelled[offset] as number);
    return { token: episode.tokens[offset] as number, labelled };
  }

  /** The batch of a given step, without moving the position. */
  batchAt(step: number): TokenBatch {
    if (!Number.isSafeInteger(step) || step < 0) throw new InvalidArgumentError('step', 'a non-negative integer', step);
    const { batchSize, segmentLength } = this;
    const inputs = new Int32Array(batchSize * segmentLength);
    const targets = new Int32Array(batchSize * segmentLength);
    const mask = new Float32Array(batchSize * segmentLength);
    let targetCount = 0;
    for (let row = 0; row < batchSize; row += 1) {
      for (let time = 0; time < segmentLength; time += 1) {
        const position = step * segmentLength + time;
        const index = row * segmentLength + time;
        inputs[index] = this.tokenAt(row, position).token;
        const next = this.tokenAt(row, position + 1);
        targets[index] = next.token;
        if (next.labelled === 1) {
          mask[index] = 1;
          targetCount += 1;
        }
      }
    }
    return { inputs, targets, mask, shape: [batchSize, segmentLength], step, epoch: 0, startsEpoch: false, targetCount };
  }
}
