// The topic-recall task: a block of symbols drawn from one of a few topic distributions, a long run of distractors, then a question about the block's topic; a coarse summary of the block is enough to answer.
import { InvalidArgumentError } from '../errors.js';
import { defineLongRangeTask, resolveTaskParameters, type LongRangeTask } from './types.js';

/** Parameters of topic-recall. */
export interface TopicRecallParameters {
  /** K: topics (default 4); the answer is one of them, so chance is 1/K. */
  topics?: number;
  /** Symbols per topic (default 2): topic k owns symbols k*S .. k*S + S - 1 of the K*S symbols. */
  symbolsPerTopic?: number;
  /** B: symbols in the topic block (default 16). */
  blockLength?: number;
  /** Chance that a block symbol comes from the block's topic (default 0.6); otherwise it is uniform over all symbols. */
  purity?: number;
  /** D: distractors between the block and the question (default 48). */
  delay?: number;
  /** Distinct distractor symbols, disjoint from the topic symbols (default 2). */
  distractorAlphabetSize?: number;
}

const DEFAULTS: Required<TopicRecallParameters> = {
  topics: 4,
  symbolsPerTopic: 2,
  blockLength: 16,
  purity: 0.6,
  delay: 48,
  distractorAlphabetSize: 2,
};

/**
 * Topic recall. Episode (E = B + D + 3 tokens): `<start>`, B block symbols, D distractors,
 * `<query>`, `topic:k` (labelled). The block's topic k is uniform over the K topics; each block
 * symbol is, with probability `purity`, uniform over topic k's own symbols, else uniform over
 * all K*S symbols (so single symbols are weak evidence and the block's symbol frequencies, a
 * summary that pooling keeps, decide the answer). Ids: 0 `<start>`, 1 `<query>`, 2..K*S+1
 * `symbol:i`, then `distractor:j`, then `topic:0..K-1`.
 *
 * The question is D + 1 to B + D tokens after the block: with D beyond Transformer-XL's
 * temporal range but the block inside the Compressive Transformer's compressed range, only the
 * compressed memory can answer; the answer is at chance (1/K) without it.
 */
export function createTopicRecallTask(parameters: TopicRecallParameters = {}): LongRangeTask<TopicRecallParameters> {
  const resolved = resolveTaskParameters(DEFAULTS, parameters, [
    ['topics', 2],
    ['symbolsPerTopic', 1],
    ['blockLength', 1],
    ['delay', 0],
    ['distractorAlphabetSize', 1],
  ]);
  if (!Number.isFinite(resolved.purity) || resolved.purity <= 0 || resolved.purity > 1) {
    throw new InvalidArgumentError('purity', 'a probability in (0, 1]', resolved.purity, 'At 0 the block says nothing about its topic.');
  }
  const { topics, symbolsPerTopic, blockLength, purity, delay, distractorAlphabetSize } = resolved;
  const symbolCount = topics * symbolsPerTopic;
  const names = ['<start>', '<query>'];
  for (let index = 0; index < symbolCount; index += 1) names.push(`symbol:${index}`);
  for (let index = 0; index < distractorAlphabetSize; index += 1) names.push(`distractor:${index}`);
  for (let index = 0; index < topics; index += 1) names.push(`topic:${index}`);
  const episodeLength = blockLength + delay + 3;
  const firstSymbol = 2;
  const firstDistractor = firstSymbol + symbolCount;
  const firstTopic = firstDistractor + distractorAlphabetSize;

  return defineLongRangeTask({
    name: 'topic-recall',
    parameters: resolved,
    tokenNames: names,
    episodeLength,
    sample(random, episode) {
      const topic = random.nextInt(topics);
      for (let index = 0; index < blockLength; index += 1) {
        const symbol =
          random.nextFloat() < purity ? topic * symbolsPerTopic + random.nextInt(symbolsPerTopic) : random.nextInt(symbolCount);
        episode.write(firstSymbol + symbol);
      }
      for (let index = 0; index < delay; index += 1) episode.write(firstDistractor + random.nextInt(distractorAlphabetSize));
      episode.write(1);
      episode.writeLabelled(firstTopic + topic);
    },
    layout: () => [
      `topic-recall, E = ${episodeLength} tokens per episode:`,
      `  <start> | ${blockLength} x symbol:0..${symbolCount - 1} (share ${purity} from the topic's own ${symbolsPerTopic}) | ` +
        `${delay} x distractor:0..${distractorAlphabetSize - 1} | <query> | topic:0..${topics - 1} (labelled)`,
      `  distance from the block to the question: ${delay + 1} to ${blockLength + delay} tokens`,
    ],
  });
}
