// Sampling from next-token logits and autoregressive generation over a stream (SPEC 6): greedy, temperature, top-k, top-p, seeded.
import { createRandom } from '@engram/attention';
import { ModelInputError } from './errors.js';
import type { MemoryTransformer, ModelStream } from './model.js';

/** How to pick the next token. */
export interface SamplingOptions {
  /** `greedy` takes the most likely token; `sample` draws from the (filtered) distribution. Default `sample`. */
  strategy?: 'greedy' | 'sample';
  /** Logits are divided by this before softmax (default 1); 0 means greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens (default: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (nucleus, default 1). */
  topP?: number;
}

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Number of tokens to generate after the prompt. */
  maxNewTokens: number;
  /** Seed of the sampler (default 0): the same seed gives the same tokens. */
  seed?: number;
}

function checkSampling(options: SamplingOptions): void {
  const { strategy, temperature, topK, topP } = options;
  if (strategy !== undefined && strategy !== 'greedy' && strategy !== 'sample') {
    throw new ModelInputError(`generate: strategy must be "greedy" or "sample", got ${JSON.stringify(strategy)}.`);
  }
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw new ModelInputError(`generate: temperature must be a finite number >= 0, got ${temperature}.`);
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) {
    throw new ModelInputError(`generate: topK must be an integer >= 1, got ${topK}.`);
  }
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new ModelInputError(`generate: topP must be in (0, 1], got ${topP}.`);
  }
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let index = 1; index < values.length; index++) {
    if ((values[index] as number) > (values[best] as number)) best = index;
  }
  return best;
}

/**
 * Picks a token from next-token logits `[vocab]`. Filters apply in the order temperature,
 * top-k, top-p; `random` returns uniform numbers in [0, 1) (pass a seeded one for repeatable draws).
 */
export function sampleFromLogits(logits: ArrayLike<number>, options: SamplingOptions, random: () => number): number {
  checkSampling(options);
  if (logits.length === 0) throw new ModelInputError('sampleFromLogits: logits are empty.');
  const temperature = options.temperature ?? 1;
  if ((options.strategy ?? 'sample') === 'greedy' || temperature === 0) return argmax(logits);
  const order = Array.from({ length: logits.length }, (_, index) => index).sort(
    (a, b) => (logits[b] as number) - (logits[a] as number) || a - b,
  );
  const keep = Math.min(options.topK ?? order.length, order.length);
  const top = logits[order[0] as number] as number;
  const weights = order.slice(0, keep).map((index) => Math.exp(((logits[index] as number) - top) / temperature));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let candidates = keep;
  const topP = options.topP ?? 1;
  if (topP < 1) {
    let cumulative = 0;
    for (let rank = 0; rank < keep; rank++) {
      cumulative += (weights[rank] as number) / total;
      if (cumulative >= topP) {
        candidates = rank + 1;
        break;
      }
    }
  }
  const kept = weights.slice(0, candidates);
  const keptTotal = kept.reduce((sum, weight) => sum + weight, 0);
  let draw = random() * keptTotal;
  for (let rank = 0; rank < candidates; rank++) {
    draw -= kept[rank] as number;
    if (draw < 0) return order[rank] as number;
  }
  return order[candidates - 1] as number;
}

/**
 * Continues `prompt` by `maxNewTokens` tokens through a stream (SPEC 6), yielding each new token as
 * soon as it is chosen (the prompt is not yielded), so a caller can show text as it grows. `onStream`
 * receives the model stream once the prompt is read, e.g. to look at `stream.state` between tokens.
 * Deterministic for a given seed; stopping the iteration early disposes the stream.
 */
export function* generateTokens(
  model: MemoryTransformer,
  prompt: readonly number[],
  options: GenerateOptions,
  onStream?: (stream: ModelStream) => void,
): Generator<number, void, undefined> {
  if (!Array.isArray(prompt) || prompt.length === 0) {
    throw new ModelInputError('generate: prompt must be a non-empty array of token ids (the first token to condition on).');
  }
  if (!options || !Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 0) {
    throw new ModelInputError(`generate: maxNewTokens must be an integer >= 0, got ${options?.maxNewTokens}.`);
  }
  checkSampling(options);
  const random = createRandom(options.seed ?? 0);
  const stream = model.createStream();
  try {
    let logits: Float32Array = new Float32Array(0);
    for (const token of prompt) logits = stream.push(token);
    onStream?.(stream);
    for (let step = 0; step < options.maxNewTokens; step++) {
      const token = sampleFromLogits(logits, options, random);
      yield token;
      if (step < options.maxNewTokens - 1) logits = stream.push(token);
    }
  } finally {
    stream.dispose();
  }
}

/**
 * Continues `prompt` by `maxNewTokens` tokens through a stream (SPEC 6) and returns the new
 * tokens only (not the prompt). Deterministic for a given seed.
 */
export function generate(model: MemoryTransformer, prompt: readonly number[], options: GenerateOptions): number[] {
  return [...generateTokens(model, prompt, options)];
}
