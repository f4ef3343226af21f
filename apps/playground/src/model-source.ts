// Loads a model exported by `engram export` in the browser: from the page's shipped files (fetch) or from files the user drops or picks.
import { policyFromSavedConfig } from '@engram/cli/browser';
import { tokenizerFromDocument, type AnyTokenizer } from '@engram/datasets';
import { CONFIG_FILE, decodeModel, parseModelConfig, WEIGHTS_FILE, type MemoryTransformer } from '@engram/model';

/** The tokenizer file `engram export` writes next to the weights. */
export const TOKENIZER_FILE = 'tokenizer.json';

/** A model ready to generate, with the tokenizer it was trained with. */
export interface LoadedModel {
  model: MemoryTransformer;
  tokenizer: AnyTokenizer;
  /** Where it came from, for the status line. */
  source: string;
}

/** The three files of a model directory, as text and bytes. */
interface ModelDirectoryFiles {
  config: string;
  weights: Uint8Array;
  tokenizer: string;
}

function build(files: ModelDirectoryFiles, source: string): LoadedModel {
  const saved = parseModelConfig(files.config, `${source}/${CONFIG_FILE}`);
  let tokenizerDocument: unknown;
  try {
    tokenizerDocument = JSON.parse(files.tokenizer);
  } catch (cause) {
    throw new Error(`${source}/${TOKENIZER_FILE} is not valid JSON; export the model again with engram export.`, { cause });
  }
  const tokenizer = tokenizerFromDocument(tokenizerDocument, `${source}/${TOKENIZER_FILE}`);
  if (tokenizer.vocabSize > saved.model.vocabSize) {
    throw new Error(`${TOKENIZER_FILE} has ${tokenizer.vocabSize} tokens but the model only ${saved.model.vocabSize}: the files do not belong together.`);
  }
  const policy = policyFromSavedConfig(saved.policy.kind, saved.policy.config);
  const model = decodeModel({ config: files.config, weights: files.weights }, { policy, source });
  return { model, tokenizer, source };
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Could not load ${url}: HTTP ${response.status} ${response.statusText}.`);
  return response;
}

/** Fetches `config.json`, `model.safetensors` and `tokenizer.json` from the directory URL `base` (ending in `/`). */
export async function loadModelFromUrl(base: string): Promise<LoadedModel> {
  const [config, weights, tokenizer] = await Promise.all([
    fetchOk(`${base}${CONFIG_FILE}`).then((response) => response.text()),
    fetchOk(`${base}${WEIGHTS_FILE}`).then(async (response) => new Uint8Array(await response.arrayBuffer())),
    fetchOk(`${base}${TOKENIZER_FILE}`).then((response) => response.text()),
  ]);
  return build({ config, weights, tokenizer }, base.replace(/\/$/, ''));
}

/** Loads the files of an exported model directory that the user dropped or picked (other files are ignored). */
export async function loadModelFromFiles(files: Iterable<File>): Promise<LoadedModel> {
  const byName = new Map<string, File>();
  for (const file of files) byName.set(file.name, file);
  const missing = [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE].filter((name) => !byName.has(name));
  if (missing.length > 0) {
    throw new Error(`Drop the files of a directory written by engram export; missing: ${missing.join(', ')}.`);
  }
  const read = (name: string) => byName.get(name) as File;
  return build(
    {
      config: await read(CONFIG_FILE).text(),
      weights: new Uint8Array(await read(WEIGHTS_FILE).arrayBuffer()),
      tokenizer: await read(TOKENIZER_FILE).text(),
    },
    'the dropped files',
  );
}
