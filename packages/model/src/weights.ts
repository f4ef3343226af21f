// Model weights (safetensors + config.json) and memory states to and from bytes; the file versions are in node.ts.
import * as tf from '@tensorflow/tfjs';
import { createFifoPolicy, type MemoryPolicy, type MemoryState } from '@engram/memory';
import type { ModelConfig, ResolvedModelConfig } from './config.js';
import { SafetensorsError, WeightsError } from './errors.js';
import { policyConfigDifferences, validateLoadedWeights } from './load-checks.js';
import { createModel, type MemoryTransformer } from './model.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsContents } from './safetensors.js';

/** File names inside a saved model directory. */
export const WEIGHTS_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';
/** Value of `format` in config.json and in the safetensors metadata. */
export const MODEL_FORMAT = 'engram-model';
export const MODEL_FORMAT_VERSION = 1;

/** The content of `config.json` next to the weights. */
export interface SavedModelConfig {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  /** The model configuration with defaults filled in. */
  model: ResolvedModelConfig;
  /** The memory policy: enough to recreate FIFO, and to check any other policy. */
  policy: { kind: string; specificationVersion: string; config: Record<string, unknown> };
  /** Every tensor of model.safetensors and its shape (also documents the names). */
  tensors: Record<string, number[]>;
}

/** A saved model as bytes: the two files of a model directory, e.g. from `fetch` or a file picker in a browser. */
export interface ModelFiles {
  /** The text of `config.json`. */
  config: string;
  /** The bytes of `model.safetensors`. */
  weights: Uint8Array;
}

/**
 * Encodes a model as the two files of a model directory: `model.safetensors` (every variable under
 * its stable name, see the README) and `config.json` (model config + `policy.config()`).
 */
export function encodeModel(model: MemoryTransformer): ModelFiles {
  const named = model.namedVariables();
  const config: SavedModelConfig = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    model: model.config,
    policy: { kind: model.policy.kind, specificationVersion: model.policy.specificationVersion, config: model.policy.config() },
    tensors: Object.fromEntries(Object.entries(named).map(([name, variable]) => [name, [...variable.shape]])),
  };
  const weights = encodeSafetensors(named, {
    format: MODEL_FORMAT,
    formatVersion: String(MODEL_FORMAT_VERSION),
    policyKind: model.policy.kind,
  });
  return { config: `${JSON.stringify(config, null, 2)}\n`, weights };
}

/** Parses and checks the text of `config.json`; `path` names the file in error messages. */
export function parseModelConfig(text: string, path: string = CONFIG_FILE): SavedModelConfig {
  let parsed: Partial<SavedModelConfig>;
  try {
    parsed = JSON.parse(text) as Partial<SavedModelConfig>;
  } catch (cause) {
    throw new WeightsError(`loadModel: "${path}" is not valid JSON.`, { cause });
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.format !== MODEL_FORMAT || typeof parsed.model !== 'object' || typeof parsed.policy?.kind !== 'string') {
    throw new WeightsError(
      `loadModel: "${path}" is not an Engram model config (expected format "${MODEL_FORMAT}" with "model" and "policy" fields).`,
    );
  }
  if (parsed.formatVersion !== MODEL_FORMAT_VERSION) {
    throw new WeightsError(`loadModel: "${path}" has formatVersion ${parsed.formatVersion}; this library reads version ${MODEL_FORMAT_VERSION}.`);
  }
  return parsed as SavedModelConfig;
}

/** Options of {@link decodeModel} and `loadModel` (`@engram/model/node`). */
export interface LoadModelOptions {
  /** The memory policy (required unless FIFO), built with the saved options. */
  policy?: MemoryPolicy;
  /**
   * Called with the differing fields (`memoryLength: saved 16, given 8`) when `policy.config()` differs from the
   * saved policy options; without it such a load is refused with a {@link WeightsError}.
   */
  onPolicyDifference?: (differences: string[]) => void;
  /** Model options that add no weights, changed for this load (see {@link decodeModel}). */
  configOverrides?: Partial<ModelConfig>;
}

/**
 * Recreates a model from the bytes of its files (see {@link encodeModel}). A FIFO policy is rebuilt
 * from the saved config; any other policy must be passed (built with the same options: its kind and
 * options are checked). `configOverrides` changes options that add no weights, e.g. `{ sameLength: true }`
 * to evaluate with Transformer-XL's protocol (a field that changes a weight's shape fails the weights
 * check). Weights holding NaN or Infinity are refused, naming the file and the tensor. `source` names
 * where the files came from in error messages (a directory or URL).
 */
export function decodeModel(files: ModelFiles, options: LoadModelOptions & { source?: string } = {}): MemoryTransformer {
  const source = options.source ?? 'the model files';
  const saved = parseModelConfig(files.config, `${source}/${CONFIG_FILE}`);
  let policy = options.policy;
  if (policy) {
    if (policy.kind !== saved.policy.kind) {
      throw new WeightsError(
        `loadModel: the model was saved with a "${saved.policy.kind}" policy but options.policy is "${policy.kind}"; pass a ${saved.policy.kind} policy built with ${JSON.stringify(saved.policy.config)}.`,
      );
    }
    const differences = policyConfigDifferences(saved.policy.config, policy.config());
    if (differences.length > 0) {
      if (options.onPolicyDifference === undefined) {
        throw new WeightsError(
          `loadModel: options.policy differs from the policy saved in "${source}/${CONFIG_FILE}" (${differences.join('; ')}); build it with ${JSON.stringify(saved.policy.config)}, or pass onPolicyDifference to accept the change.`,
        );
      }
      options.onPolicyDifference(differences);
    }
  } else if (saved.policy.kind === 'fifo') {
    const { memoryLength, evalMemoryLength } = saved.policy.config as { memoryLength: number; evalMemoryLength?: number };
    policy = createFifoPolicy({ memoryLength, ...(evalMemoryLength === undefined ? {} : { evalMemoryLength }) });
  } else {
    throw new WeightsError(
      `loadModel: the model uses a "${saved.policy.kind}" memory policy, which this package cannot build; create it with ${JSON.stringify(saved.policy.config)} and pass it as loadModel(directory, { policy }).`,
    );
  }
  const model = createModel({ ...saved.model, ...options.configOverrides }, { policy });
  try {
    let tensors: Record<string, tf.Tensor>;
    try {
      tensors = decodeSafetensors(files.weights).tensors;
    } catch (error) {
      if (error instanceof SafetensorsError) throw new SafetensorsError(`${error.message} (file "${source}/${WEIGHTS_FILE}")`, { cause: error });
      throw error;
    }
    try {
      validateLoadedWeights(tensors, `${source}/${WEIGHTS_FILE}`);
      assignWeights(model, tensors);
    } finally {
      tf.dispose(Object.values(tensors));
    }
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/** Copies `tensors` (stable name -> value) into the model's variables; every variable must be present with its shape. */
export function assignWeights(model: MemoryTransformer, tensors: Record<string, tf.Tensor>): void {
  const named = model.namedVariables();
  const missing = Object.keys(named).filter((name) => !(name in tensors));
  const unknown = Object.keys(tensors).filter((name) => !(name in named));
  if (missing.length > 0 || unknown.length > 0) {
    throw new WeightsError(
      `loadModel: the weights do not match the model${missing.length ? `; missing: ${missing.join(', ')}` : ''}${unknown.length ? `; unexpected: ${unknown.join(', ')}` : ''}. Load them into a model with the same config and policy.`,
    );
  }
  for (const [name, variable] of Object.entries(named)) {
    const tensor = tensors[name] as tf.Tensor;
    if (tensor.shape.length !== variable.shape.length || tensor.shape.some((size, axis) => size !== variable.shape[axis])) {
      throw new WeightsError(`loadModel: "${name}" is [${tensor.shape.join(', ')}] in the file but [${variable.shape.join(', ')}] in the model.`);
    }
    if (tensor.dtype !== variable.dtype) {
      throw new WeightsError(`loadModel: "${name}" is ${tensor.dtype} in the file but ${variable.dtype} in the model.`);
    }
  }
  for (const [name, variable] of Object.entries(named)) variable.assign(tensors[name] as tf.Tensor);
}

/** Metadata key holding the JSON of a memory state's `meta`. */
const STATE_META_KEY = 'engram.memoryState';

/** Encodes a memory state (via `policy.serializeState`) as safetensors bytes. */
export function encodeMemoryState(policy: MemoryPolicy, state: MemoryState): Uint8Array {
  const serialized = policy.serializeState(state);
  try {
    return encodeSafetensors(serialized.tensors, { [STATE_META_KEY]: JSON.stringify(serialized.meta) });
  } finally {
    tf.dispose(Object.values(serialized.tensors));
  }
}

/** Decodes a memory state written by {@link encodeMemoryState} (via `policy.deserializeState`); `source` names it in errors. */
export function decodeMemoryState(policy: MemoryPolicy, bytes: Uint8Array, source = 'the memory state'): MemoryState {
  let contents: SafetensorsContents;
  try {
    contents = decodeSafetensors(bytes);
  } catch (error) {
    if (error instanceof SafetensorsError) throw new SafetensorsError(`${error.message} (file "${source}")`, { cause: error });
    throw error;
  }
  const { tensors, metadata } = contents;
  try {
    const metaText = metadata[STATE_META_KEY];
    if (metaText === undefined) {
      throw new WeightsError(`loadMemoryState: "${source}" has no "${STATE_META_KEY}" metadata; it was not written by saveMemoryState.`);
    }
    return policy.deserializeState({ tensors, meta: JSON.parse(metaText) as Record<string, unknown> });
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
