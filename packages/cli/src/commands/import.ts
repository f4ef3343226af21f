// `engram import`: turns a PyTorch Transformer-XL (official or Hugging Face, safetensors + config.json) into an engram model directory.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createByteTokenizer, type AnyTokenizer } from '@engram/datasets';
import { loadTokenizer, saveTokenizer } from '@engram/datasets/node';
import { importTransformerXl, type ResolvedModelConfig, type TransformerXlNaming } from '@engram/model';
import { saveModel } from '@engram/model/node';
import { setupBackend } from '../backend.js';
import type { BackendChoice } from '../config/schema.js';
import { InputError, UsageError } from '../errors.js';
import { writeLine, type CommandIo } from '../io.js';
import { TOKENIZER_FILE } from '../model-files.js';

/** The PyTorch namings `engram import` and `engram export --format transformer-xl` know. */
export const transformerXlNamings = ['official', 'huggingface'] as const;

/** Options of {@link importCommand}. */
export interface ImportCommandOptions {
  /** Directory with `model.safetensors` (the state_dict) and `config.json`. */
  source: string;
  /** Output model directory (created; must not hold a model already). */
  out: string;
  /** The engram tokenizer.json of the vocabulary (default: the source's tokenizer.json, or bytes for a 256-token model). */
  tokenizer?: string;
  /** Tensor naming (default: detected from the names). */
  naming?: TransformerXlNaming;
  /** FIFO memory in evaluation (default: the config's mem_len). */
  evalMemoryLength?: number;
  backend?: BackendChoice;
}

async function readSource(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new InputError(path, `cannot read ${what} ${path} (${(cause as Error).message}): give a directory holding model.safetensors and config.json of a PyTorch Transformer-XL`, { cause });
  }
}

/** The tokenizer of the imported model. */
async function pickTokenizer(options: ImportCommandOptions, source: string, vocabSize: number): Promise<AnyTokenizer> {
  const path = options.tokenizer ?? (existsSync(join(source, TOKENIZER_FILE)) ? join(source, TOKENIZER_FILE) : undefined);
  if (path !== undefined) return loadTokenizer(resolve(path));
  if (vocabSize === 256) return createByteTokenizer();
  throw new UsageError(
    `the model has ${vocabSize} tokens and ${source} has no ${TOKENIZER_FILE}: pass --tokenizer <tokenizer.json> (an engram tokenizer with the vocabulary the model was trained with, in the same order)`,
  );
}

/** `with adaptive softmax (...)` for a model with cutoffs or projections, else nothing. */
function adaptiveSummary(c: ResolvedModelConfig): string {
  if (c.cutoffs.length === 0 && c.embeddingDivisor === 1 && c.embeddingDim === c.modelDim) return '';
  return ` with adaptive input and softmax (cutoffs ${JSON.stringify(c.cutoffs)}, div_val ${c.embeddingDivisor}, d_embed ${c.embeddingDim})`;
}

/** Imports and returns the output directory. */
export async function importCommand(options: ImportCommandOptions, io: CommandIo): Promise<string> {
  if (options.naming !== undefined && !(transformerXlNamings as readonly string[]).includes(options.naming)) {
    throw new UsageError(`--naming must be one of ${transformerXlNamings.join(', ')}, got "${options.naming}"`);
  }
  const source = resolve(options.source);
  const out = resolve(options.out);
  if (existsSync(join(out, 'config.json')) || existsSync(join(out, 'model.safetensors'))) {
    throw new UsageError(`${out} already holds a model: choose another --out directory or remove it first`);
  }
  const weights = await readSource(join(source, 'model.safetensors'), 'the weights');
  const configText = new TextDecoder().decode(await readSource(join(source, 'config.json'), 'the config'));
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(configText) as Record<string, unknown>;
  } catch (cause) {
    throw new InputError(join(source, 'config.json'), `${join(source, 'config.json')} is not valid JSON`, { cause });
  }
  await setupBackend(options.backend ?? 'auto');
  const model = importTransformerXl(weights, config, {
    ...(options.naming === undefined ? {} : { naming: options.naming }),
    ...(options.evalMemoryLength === undefined ? {} : { evalMemoryLength: options.evalMemoryLength }),
  });
  try {
    const tokenizer = await pickTokenizer(options, source, model.config.vocabSize);
    if (tokenizer.vocabSize > model.config.vocabSize) {
      throw new InputError(
        options.tokenizer ?? source,
        `the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.config.vocabSize}: they do not belong together`,
      );
    }
    await mkdir(out, { recursive: true });
    await saveModel(model, out);
    await saveTokenizer(tokenizer, join(out, TOKENIZER_FILE));
    writeLine(io.stdout, `imported a ${model.config.numLayers}-layer ${model.config.norm}-norm Transformer-XL${adaptiveSummary(model.config)} (${model.parameterCount()} parameters) to ${out}`);
    return out;
  } finally {
    model.dispose();
  }
}
