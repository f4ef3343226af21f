// A trained model on disk as the commands use it: @engram/model's saveModel files plus the tokenizer and the engram configuration.
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { AnyTokenizer } from '@engram/datasets';
import { loadTokenizer, saveTokenizer } from '@engram/datasets/node';
import { CONFIG_FILE, WEIGHTS_FILE, type MemoryTransformer } from '@engram/model';
import { loadModel, readModelConfig, saveModel } from '@engram/model/node';
import { assertFits, estimateInferenceBytes, savedModelShapeOf } from './budget.js';
import { policyFromSavedConfig } from './build.js';
import { checkRegularFile, parseJsonFile, readTextFile, SMALL_FILE_BYTES, TOKENIZER_FILE_BYTES, writeFileAtomic } from './files.js';
import { loadSavedModules } from './config/load-modules.js';
import { validateConfig } from './config/resolve.js';
import type { EngramConfig } from './config/schema.js';
import { InputError, UsageError } from './errors.js';

/** File with the engram configuration and training summary, next to the weights. */
export const ENGRAM_FILE = 'engram.json';
/** The tokenizer, next to the weights. */
export const TOKENIZER_FILE = 'tokenizer.json';

/** The content of `engram.json`. */
export interface EngramModelDocument {
  format: 'engram-cli-model';
  formatVersion: 1;
  /** The validated configuration the model was trained with. */
  config: EngramConfig;
  /** Corpus the tokenizer was built from. */
  corpus: string;
  /** Optimizer steps the weights have seen. */
  steps: number;
  /** Bits per token on the validation split at the end of training (null when not evaluated). */
  validationBitsPerToken: number | null;
  /** Checksum of the training token stream (`tokensChecksum` of @engram/trainer), when recorded. */
  dataChecksum?: string;
  /** Best validation bits per token during training and its step, when recorded. */
  bestValidation?: { step: number; bitsPerToken: number } | null;
}

/** A model loaded for eval, generate, export or inspect. */
export interface TrainedModel {
  /** The directory holding config.json and model.safetensors. */
  directory: string;
  model: MemoryTransformer;
  tokenizer: AnyTokenizer;
  /** engram.json, or null for a model saved by code with saveModel only. */
  document: EngramModelDocument | null;
}

/** Saves weights (saveModel), the tokenizer and engram.json into `directory`. */
export async function saveTrainedModel(
  directory: string,
  model: MemoryTransformer,
  tokenizer: AnyTokenizer,
  document: EngramModelDocument,
): Promise<void> {
  await saveModel(model, directory);
  await saveTokenizer(tokenizer, join(directory, TOKENIZER_FILE));
  await writeFileAtomic(join(directory, ENGRAM_FILE), `${JSON.stringify(document, null, 2)}\n`);
}

/**
 * The model directory a path names: the path itself when it holds config.json, else `<path>/model`
 * (a run directory written by `engram train`).
 */
export function resolveModelDirectory(path: string): string {
  const absolute = resolve(path);
  if (existsSync(join(absolute, CONFIG_FILE))) return absolute;
  if (existsSync(join(absolute, 'model', CONFIG_FILE))) return join(absolute, 'model');
  if (!existsSync(absolute)) throw new InputError(path, `${path} does not exist: give a model directory or a run directory of engram train`);
  throw new InputError(
    path,
    `${path} holds no model (no ${CONFIG_FILE} in it or in ${join(path, 'model')}): give a directory written by engram train or engram export`,
  );
}

/** Evaluation-protocol changes applied when loading (Transformer-XL's: a longer memory, `same_length`). */
export interface EvaluationOverrides {
  /** FIFO memory kept in evaluation, instead of the saved one. */
  evalMemoryLength?: number;
  /** Transformer-XL's same_length mask on or off, instead of the saved setting. */
  sameLength?: boolean;
}

/** The memory check of a command before its model is loaded (see budget.ts). */
export interface LoadBudget {
  /** Rows the command runs at once (or a function of engram.json, e.g. its training batch size). */
  batchSize: number | ((document: EngramModelDocument | null) => number);
  /** Tokens per forward call (default: the model's segment length). */
  segmentLength?: number;
  /** What is checked, e.g. `evaluation` (the batch size is added). */
  what: string;
  /** The flags that make it smaller. */
  fix: string;
}

/** Options of {@link loadTrainedModel}. */
export interface LoadTrainedModelOptions extends EvaluationOverrides {
  /** Estimate the memory the command needs from config.json and refuse it before the weights are read. */
  budget?: LoadBudget;
  /** tokenizer.json and engram.json from elsewhere (a checkpoint's model/ has neither: they are the run's). */
  companions?: { tokenizer: string; document?: string };
}

/**
 * Loads a trained model, its policy (rebuilt from the saved policy config) and its tokenizer. Every file is
 * checked to be a regular file of a sane size before it is read, every parse error names its file, and with
 * `budget` the memory the command needs is estimated from config.json and refused before the weights are read.
 */
export async function loadTrainedModel(path: string, options: LoadTrainedModelOptions = {}): Promise<TrainedModel> {
  const directory = resolveModelDirectory(path);
  await checkRegularFile(join(directory, CONFIG_FILE), { maxBytes: SMALL_FILE_BYTES, what: "the model's config.json" });
  const saved = await readModelConfig(directory).catch((error: unknown) => {
    throw new InputError(
      path,
      `${(error as Error).message} Restore ${CONFIG_FILE} from the run (its model/ or a checkpoint), or export the model again`,
      { cause: error },
    );
  });
  if (options.evalMemoryLength !== undefined && saved.policy.kind !== 'fifo') {
    throw new UsageError(`--eval-memory-length applies to Transformer-XL (fifo) memory; this model's memory is "${saved.policy.kind}"`);
  }
  const policyConfig =
    options.evalMemoryLength === undefined ? saved.policy.config : { ...saved.policy.config, evalMemoryLength: options.evalMemoryLength };
  // A policy or compressor from a user module: config.json names the module (see user-modules.ts).
  await loadSavedModules(policyConfig, join(directory, CONFIG_FILE));
  const policy = policyFromSavedConfig(saved.policy.kind, policyConfig);
  const tokenizerPath = options.companions?.tokenizer ?? join(directory, TOKENIZER_FILE);
  if (!existsSync(tokenizerPath)) {
    throw new InputError(path, `${tokenizerPath} does not exist: the commands need the tokenizer the model was trained with`);
  }
  await checkRegularFile(tokenizerPath, { maxBytes: TOKENIZER_FILE_BYTES, what: "the model's tokenizer.json" });
  const tokenizer = await loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize > saved.model.vocabSize) {
    throw new InputError(
      path,
      `${TOKENIZER_FILE} has ${tokenizer.vocabSize} tokens but the model only ${saved.model.vocabSize}: the files do not belong together`,
    );
  }
  let document: EngramModelDocument | null = null;
  const documentPath = options.companions === undefined ? join(directory, ENGRAM_FILE) : options.companions.document;
  if (documentPath !== undefined && existsSync(documentPath)) {
    const text = await readTextFile(documentPath, { maxBytes: SMALL_FILE_BYTES, what: `the model's ${ENGRAM_FILE}` });
    const fix = `restore it from the run, or delete it to load the weights without the training summary`;
    const raw = parseJsonFile(text, documentPath, fix) as Partial<EngramModelDocument> | null;
    if (raw === null || typeof raw !== 'object' || raw.format !== 'engram-cli-model' || raw.config === undefined) {
      throw new InputError(path, `${documentPath} is not an engram-cli-model document: ${fix}`);
    }
    document = { ...(raw as EngramModelDocument), config: validateConfig(raw.config as Record<string, unknown>, documentPath) };
  }
  if (options.budget !== undefined) {
    const budget = options.budget;
    const batchSize = typeof budget.batchSize === 'function' ? budget.batchSize(document) : budget.batchSize;
    const shape = savedModelShapeOf({ ...saved, policy: { ...saved.policy, config: policyConfig } }, batchSize, budget.segmentLength);
    assertFits(estimateInferenceBytes(shape), `${budget.what} (batch ${batchSize})`, budget.fix);
  }
  await checkRegularFile(join(directory, WEIGHTS_FILE), { maxBytes: totalmem(), what: "the model's weights" });
  const model = await loadModel(directory, {
    policy,
    ...(options.sameLength === undefined ? {} : { configOverrides: { sameLength: options.sameLength } }),
    // The one policy change asked for (--eval-memory-length) is accepted; any other difference is refused.
    onPolicyDifference: (differences) => {
      const unexpected = differences.filter((difference) => !difference.startsWith('evalMemoryLength:') || options.evalMemoryLength === undefined);
      if (unexpected.length > 0) {
        throw new InputError(path, `the rebuilt memory policy differs from ${join(directory, CONFIG_FILE)} (${unexpected.join('; ')})`);
      }
    },
  });
  return { directory, model, tokenizer, document };
}
