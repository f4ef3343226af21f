// `engram generate`: continues a prompt with a trained model through its memory stream (SPEC 6), greedy or sampled.
import type { AnyTokenizer, WordTokenizer } from '@engram/datasets';
import { generate } from '@engram/model';
import { setupBackend } from '../backend.js';
import type { BackendChoice } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { writeLine, type CommandIo } from '../io.js';
import { loadTrainedModel } from '../model-files.js';

/** Options of {@link generateCommand}. */
export interface GenerateCommandOptions {
  /** Model directory or run directory. */
  model: string;
  /** Text to continue (default: a newline). */
  prompt?: string;
  maxNewTokens?: number;
  strategy?: 'greedy' | 'sample';
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  backend?: BackendChoice;
  /** Print only the continuation, without the prompt. */
  continuationOnly?: boolean;
}

/**
 * How many ids of `ids` are the tokenizer's unknown token (character: id 0 `<unk>`; word: its `unknownId`,
 * minus literal `<unk>` words; byte tokenizers know every byte).
 */
export function unknownTokenCount(tokenizer: AnyTokenizer, ids: readonly number[], text?: string): number {
  if (tokenizer.kind === 'byte') return 0;
  const unknownId = tokenizer.kind === 'word' ? (tokenizer as WordTokenizer).unknownId : 0;
  const literal = tokenizer.kind === 'word' && text !== undefined ? (text.match(/(^|\s)<unk>(?=\s|$)/g) ?? []).length : 0;
  return Math.max(0, ids.filter((id) => id === unknownId).length - literal);
}

/** Generates text and prints it; returns the continuation. */
export async function generateCommand(options: GenerateCommandOptions, io: CommandIo): Promise<string> {
  const maxNewTokens = options.maxNewTokens ?? 200;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new UsageError(`--max-new-tokens must be an integer >= 1, got ${maxNewTokens}`);
  }
  await setupBackend(options.backend ?? 'auto');
  const trained = await loadTrainedModel(options.model, {
    budget: { batchSize: 1, what: 'generation', fix: 'use a smaller model' },
  });
  try {
    const prompt = options.prompt ?? '\n';
    const promptIds = Array.from(trained.tokenizer.encode(prompt));
    if (promptIds.length === 0) throw new UsageError('--prompt is empty after tokenization: give at least one character');
    const unknown = unknownTokenCount(trained.tokenizer, promptIds, prompt);
    if (unknown > 0) {
      const unit = trained.tokenizer.kind === 'word' ? 'word' : 'character';
      writeLine(
        io.stderr,
        `warning: ${unknown} of the prompt's ${promptIds.length} ${unit}s are not in the model's vocabulary and became <unk>`,
      );
    }
    const ids = generate(trained.model, promptIds, {
      maxNewTokens,
      strategy: options.strategy ?? 'sample',
      ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
      ...(options.topK === undefined ? {} : { topK: options.topK }),
      ...(options.topP === undefined ? {} : { topP: options.topP }),
      seed: options.seed ?? 0,
    });
    const continuation = trained.tokenizer.decode(ids);
    writeLine(io.stdout, options.continuationOnly === true ? continuation : `${prompt}${continuation}`);
    return continuation;
  } finally {
    trained.model.dispose();
  }
}
