// The contract of the seeded long-range tasks (SPEC 8): fixed-length episodes of token ids with the positions whose prediction is scored.
import type { SeededRandom } from '../random.js';

/** Token ids of a task and their readable names. */
export interface TaskVocabulary {
  /** Number of ids; every id is in [0, size). */
  readonly size: number;
  /** Readable name of each id, e.g. `"<start>"`, `"symbol:3"`. */
  readonly tokens: readonly string[];
  /** Id of `<start>`, the first token of every episode. */
  readonly startId: number;
}

/** One episode: `tokens[0]` is `<start>`; `labelled[i] = 1` when predicting `tokens[i]` is scored. */
export interface TaskEpisode {
  tokens: Int32Array;
  labelled: Uint8Array;
}

/** A seeded generator of episodes of one task. */
export interface LongRangeTask<Parameters extends object = object> {
  readonly name: 'copy-after-delay' | 'object-collision' | 'variable-tracking' | 'topic-recall';
  /** The parameters in force, defaults filled in. */
  readonly parameters: Readonly<Required<Parameters>>;
  readonly vocabulary: TaskVocabulary;
  /** E: tokens per episode, `<start>` included. */
  readonly episodeLength: number;
  /** One episode drawn with `random`. */
  sampleEpisode(random: SeededRandom): TaskEpisode;
  /** A multi-line human-readable account of the token layout. */
  describeLayout(): string;
}

/** Readable names of a sequence of ids. */
export function decodeTaskTokens(vocabulary: TaskVocabulary, ids: ArrayLike<number>): string[] {
  const names: string[] = [];
  for (let index = 0; index < ids.length; index += 1) {
    const id = ids[index] as number;
    const name = vocabulary.tokens[id];
    if (name === undefined) throw new RangeError(`Token id ${id} at position ${index} is outside the task vocabulary [0, ${vocabulary.size})`);
    names.push(name);
  }
  return names;
}

/** Builds a vocabulary from names (start must be among them). */
export function createTaskVocabulary(tokens: readonly string[], startName = '<start>'): TaskVocabulary {
  const startId = tokens.indexOf(startName);
  if (startId < 0) throw new RangeError(`Task vocabulary lacks ${startName}`);
  if (new Set(tokens).size !== tokens.length) throw new RangeError('Task vocabulary has repeated names');
  return { size: tokens.length, tokens: [...tokens], startId };
}
