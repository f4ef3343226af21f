// A trained model on disk as the commands use it: @engram/model's saveModel files plus the tokenizer and the engram configuration.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadTokenizer, saveTokenizer, type AnyTokenizer } from '@engram/datasets';
import { CONFIG_FILE, loadModel, readModelConfig, saveModel, writeFileAtomic, type MemoryTransformer } from '@engram/model';
import { policyFromSavedConfig } from './build.js';
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

/** Loads a trained model, its policy (rebuilt from the saved policy config) and its tokenizer. */
export async function loadTrainedModel(path: string, overrides: EvaluationOverrides = {}): Promise<TrainedModel> {
  const directory = resolveModelDirectory(path);
  const saved = await readModelConfig(directory);
  if (overrides.evalMemoryLength !== undefined && saved.policy.kind !== 'fifo') {
    throw new UsageError(`--eval-memory-length applies to Transformer-XL (fifo) memory; this model's memory is "${saved.policy.kind}"`);
  }
  const policyConfig = overrides.evalMemoryLength === undefined ? saved.policy.config : { ...saved.policy.config, evalMemoryLength: overrides.evalMemoryLength };
  const policy = policyFromSavedConfig(saved.policy.kind, policyConfig);
  const tokenizerPath = join(directory, TOKENIZER_FILE);
  if (!existsSync(tokenizerPath)) {
    throw new InputError(path, `${directory} has no ${TOKENIZER_FILE}: the commands need the tokenizer the model was trained with`);
  }
  const tokenizer = await loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize > saved.model.vocabSize) {
    throw new InputError(
      path,
      `${TOKENIZER_FILE} has ${tokenizer.vocabSize} tokens but the model only ${saved.model.vocabSize}: the files do not belong together`,
    );
  }
  let document: EngramModelDocument | null = null;
  const documentPath = join(directory, ENGRAM_FILE);
  if (existsSync(documentPath)) {
    const raw = JSON.parse(await readFile(documentPath, 'utf8')) as Partial<EngramModelDocument>;
    if (raw.format !== 'engram-cli-model' || raw.config === undefined) {
      throw new InputError(path, `${documentPath} is not an engram-cli-model document`);
    }
    document = { ...(raw as EngramModelDocument), config: validateConfig(raw.config as Record<string, unknown>, documentPath) };
  }
  const model = await loadModel(directory, { policy, ...(overrides.sameLength === undefined ? {} : { configOverrides: { sameLength: overrides.sameLength } }) });
  return { directory, model, tokenizer, document };
}
