// The copy-after-delay task (SPEC 8): P payload symbols, D distractor symbols, a marker, then the payload again; only the second payload is scored.
import { defineLongRangeTask, resolveTaskParameters, type LongRangeTask } from './types.js';

/** Parameters of copy-after-delay. */
export interface CopyTaskParameters {
  /** P: payload symbols to remember (default 8). */
  payloadLength?: number;
  /** D: distractor symbols between the payload and the marker (default 128). */
  delay?: number;
  /** Distinct payload symbols (default 8). */
  alphabetSize?: number;
  /** Distinct distractor symbols, disjoint from the payload's (default 4; 1 gives the classic blank-filled delay). */
  distractorAlphabetSize?: number;
}

const DEFAULTS: Required<CopyTaskParameters> = { payloadLength: 8, delay: 128, alphabetSize: 8, distractorAlphabetSize: 4 };

/**
 * Copy-after-delay. Episode (E = 2P + D + 2 tokens):
 * `<start>`, P payload symbols (uniform over `symbol:0..A-1`), D distractors (uniform over
 * `distractor:0..K-1`), `<marker>`, the same P payload symbols again. Only the P tokens after
 * the marker are labelled. Ids: 0 `<start>`, 1 `<marker>`, 2..A+1 `symbol:i`,
 * A+2..A+K+1 `distractor:j`.
 *
 * The first payload symbol of the copy is P + D + 1 tokens after its original, so with D
 * above a model's temporal range (Transformer-XL: about layers x (memory + segment)) the
 * copy is at chance (1/A per symbol), while a model whose memory reaches that far can solve it.
 */
export function createCopyTask(parameters: CopyTaskParameters = {}): LongRangeTask<CopyTaskParameters> {
  const resolved = resolveTaskParameters(DEFAULTS, parameters, [
    ['payloadLength', 1],
    ['delay', 0],
    ['alphabetSize', 2],
    ['distractorAlphabetSize', 1],
  ]);
  const { payloadLength, delay, alphabetSize, distractorAlphabetSize } = resolved;
  const names = ['<start>', '<marker>'];
  for (let index = 0; index < alphabetSize; index += 1) names.push(`symbol:${index}`);
  for (let index = 0; index < distractorAlphabetSize; index += 1) names.push(`distractor:${index}`);
  const episodeLength = 2 * payloadLength + delay + 2;
  const firstSymbol = 2;
  const firstDistractor = 2 + alphabetSize;

  return defineLongRangeTask({
    name: 'copy-after-delay',
    parameters: resolved,
    tokenNames: names,
    episodeLength,
    sample(random, episode) {
      const payload: number[] = [];
      for (let index = 0; index < payloadLength; index += 1) payload.push(firstSymbol + random.nextInt(alphabetSize));
      episode.write(...payload);
      for (let index = 0; index < delay; index += 1) episode.write(firstDistractor + random.nextInt(distractorAlphabetSize));
      episode.write(1);
      for (const symbol of payload) episode.writeLabelled(symbol);
    },
    layout: () => [
      `copy-after-delay, E = ${episodeLength} tokens per episode:`,
      `  <start> | ${payloadLength} x symbol:0..${alphabetSize - 1} | ${delay} x distractor:0..${distractorAlphabetSize - 1} | <marker> | the same ${payloadLength} symbols (labelled)`,
      `  distance from a payload symbol to its copy: ${payloadLength + delay + 1} tokens`,
    ],
  });
}
