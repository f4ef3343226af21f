// The contract of the seeded long-range tasks (SPEC 8): fixed-length episodes of token ids with the positions whose prediction is scored.
import { InvalidArgumentError } from '../errors.js';
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

/**
 * Writes one episode front to back: `<start>` at position 0, then every further token in order. A task's sampler
 * only says which tokens come next and which of them are labelled.
 */
export class EpisodeWriter {
  readonly tokens: Int32Array;
  readonly labelled: Uint8Array;
  private position = 1;

  constructor(episodeLength: number, startId: number) {
    this.tokens = new Int32Array(episodeLength);
    this.labelled = new Uint8Array(episodeLength);
    this.tokens[0] = startId;
  }

  /** Appends unlabelled tokens. */
  write(...ids: number[]): void {
    for (const id of ids) this.tokens[this.position++] = id;
  }

  /** Appends one token whose prediction is scored. */
  writeLabelled(id: number): void {
    this.labelled[this.position] = 1;
    this.tokens[this.position++] = id;
  }

  /** The episode; every position must have been written. */
  finish(): TaskEpisode {
    if (this.position !== this.tokens.length) {
      throw new RangeError(`Task episode wrote ${this.position} of its ${this.tokens.length} tokens; the sampler and episodeLength disagree`);
    }
    return { tokens: this.tokens, labelled: this.labelled };
  }
}

/** What a task supplies to {@link defineLongRangeTask}: what makes it different from the others. */
export interface LongRangeTaskDefinition<Parameters extends object> {
  name: LongRangeTask['name'];
  /** The parameters in force, defaults filled in and already checked. */
  parameters: Required<Parameters>;
  /** Readable names of the ids, `<start>` among them. */
  tokenNames: readonly string[];
  /** E: tokens per episode, `<start>` included. */
  episodeLength: number;
  /** Draws one episode with `random`, writing every token after `<start>` into `episode`. */
  sample(random: SeededRandom, episode: EpisodeWriter): void;
  /** The lines of {@link LongRangeTask.describeLayout}. */
  layout(): string[];
}

/** A {@link LongRangeTask} from its definition: frozen parameters, the vocabulary, and episodes that open with `<start>`. */
export function defineLongRangeTask<Parameters extends object>(definition: LongRangeTaskDefinition<Parameters>): LongRangeTask<Parameters> {
  const vocabulary = createTaskVocabulary(definition.tokenNames);
  const { episodeLength } = definition;
  return {
    name: definition.name,
    parameters: Object.freeze(definition.parameters),
    vocabulary,
    episodeLength,
    sampleEpisode(random: SeededRandom): TaskEpisode {
      const episode = new EpisodeWriter(episodeLength, vocabulary.startId);
      definition.sample(random, episode);
      return episode.finish();
    },
    describeLayout(): string {
      return definition.layout().join('\n');
    },
  };
}

/**
 * `parameters` over `defaults`, each of the named parameters checked to be a safe integer of at least its minimum
 * (in the order given, so the first bad one is reported).
 */
export function resolveTaskParameters<Parameters extends object>(
  defaults: Required<Parameters>,
  parameters: Parameters,
  integerMinimums: readonly (readonly [keyof Parameters & string, number])[],
): Required<Parameters> {
  const resolved = { ...defaults, ...parameters };
  for (const [name, minimum] of integerMinimums) {
    const value = resolved[name] as unknown as number;
    if (!Number.isSafeInteger(value) || value < minimum) throw new InvalidArgumentError(name, `an integer >= ${minimum}`, value);
  }
  return resolved;
}
