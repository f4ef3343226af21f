// `engram eval`: bits per token of a trained model on a corpus split, one in-order pass with memory carried (SPEC 7).
import { evaluationBatches, type SplitName } from '@engram/datasets';
import { evaluate, type EvaluationResult } from '@engram/trainer';
import { setupBackend } from '../backend.js';
import { dataSectionSchema, type BackendChoice, type DataSection } from '../config/schema.js';
import { loadCorpusTokens } from '../data.js';
import { UsageError } from '../errors.js';
import { writeLine, type CommandIo } from '../io.js';
import { loadTrainedModel, resolveModelDirectory, type EngramModelDocument } from '../model-files.js';

/** Options of {@link evalCommand}. */
export interface EvalCommandOptions {
  /** Model directory or run directory. */
  model: string;
  /** `valid` (default) or `test`; `train` works too. */
  split?: string;
  /** Corpus to evaluate on (default: the one the model was trained on). */
  corpus?: string;
  /** Text file or folder for corpus `local`. */
  path?: string;
  /** Evaluate only the first this many tokens of the split. */
  tokens?: number;
  /** Rows evaluated in parallel (default: the training batch size, else 8). */
  batchSize?: number;
  backend?: BackendChoice;
  offline?: boolean;
  /** Print the result as JSON. */
  json?: boolean;
  /** FIFO memory in evaluation instead of the saved one (the papers evaluate with a longer memory). */
  evalMemoryLength?: number;
  /** Transformer-XL's same_length mask on or off instead of the saved setting. */
  sameLength?: boolean;
}

/** Evaluates and prints bits per token (= bits per character with a character or byte tokenizer on ASCII text). */
export async function evalCommand(options: EvalCommandOptions, io: CommandIo): Promise<EvaluationResult> {
  const split = (options.split ?? 'valid') as SplitName;
  if (!['train', 'valid', 'test'].includes(split)) {
    throw new UsageError(`--split must be train, valid or test, got "${options.split}"`);
  }
  resolveModelDirectory(options.model);
  const backend = await setupBackend(options.backend ?? 'auto');
  if (options.json !== true) writeLine(io.stderr, `backend: ${backend.description}`);
  const batchSizeOf = (document: EngramModelDocument | null) => options.batchSize ?? document?.config.training.batchSize ?? 8;
  const trained = await loadTrainedModel(options.model, {
    ...(options.evalMemoryLength === undefined ? {} : { evalMemoryLength: options.evalMemoryLength }),
    ...(options.sameLength === undefined ? {} : { sameLength: options.sameLength }),
    budget: {
      batchSize: batchSizeOf,
      what: 'evaluation',
      fix: 'lower --batch-size',
    },
  });
  try {
    const trainedData = trained.document?.config.data;
    const data: DataSection =
      options.corpus === undefined && trainedData !== undefined
        ? trainedData
        : parseData({ corpus: options.corpus ?? 'moby-dick', ...(options.path === undefined ? {} : { path: options.path }) });
    const tokens = await loadCorpusTokens(data, {
      tokenizer: trained.tokenizer,
      ...(options.offline === undefined ? {} : { offline: options.offline }),
    });
    const stream = tokens[split];
    const limited = options.tokens === undefined || stream.length <= options.tokens + 1 ? stream : stream.subarray(0, options.tokens + 1);
    if (limited.length < 2) throw new UsageError(`the ${split} split of ${tokens.corpus} has fewer than 2 tokens`);
    const batchSize = batchSizeOf(trained.document);
    const segmentLength = trained.model.config.segmentLength;
    const result = evaluate(trained.model, {
      name: split,
      batches: () => evaluationBatches(limited, { batchSize, segmentLength }),
      // Word-level perplexity counts the words of the evaluated text, whatever the tokens are (SPEC 7).
      ...wordsOf(tokens.tokenizer.countWords(tokens.tokenizer.decode(limited))),
    });
    if (options.json === true) {
      writeLine(io.stdout, JSON.stringify({ model: trained.directory, corpus: tokens.corpus, ...result }, null, 2));
    } else {
      writeLine(
        io.stdout,
        `${tokens.corpus} ${split}: ${result.bitsPerToken.toFixed(4)} bits per ${tokens.tokenizer.kind === 'word' ? 'word' : 'token'} ` +
          `over ${result.count.toLocaleString('en-US')} predictions (${(result.count / Math.max(result.seconds, 1e-9)).toFixed(0)} tokens/s)` +
          (result.wordLevelPerplexity === undefined ? '' : `, word-level perplexity ${result.wordLevelPerplexity.toFixed(2)} over ${(result.words ?? 0).toLocaleString('en-US')} words`),
      );
    }
    return result;
  } finally {
    trained.model.dispose();
  }
}

function wordsOf(words: number): { words?: number } {
  return words > 0 ? { words } : {};
}

function parseData(input: Record<string, unknown>): DataSection {
  const parsed = dataSectionSchema.safeParse(input);
  if (!parsed.success) {
    throw new UsageError(`--corpus: ${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}
