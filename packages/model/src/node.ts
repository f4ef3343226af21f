// @engram/model/node: model directories, memory states and safetensors as files (Node only), written atomically.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@engram/core/node';
import type { MemoryPolicy, MemoryState } from '@engram/memory';
import type * as tf from '@tensorflow/tfjs';
import { SafetensorsError, WeightsError } from './errors.js';
import type { MemoryTransformer } from './model.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsContents } from './safetensors.js';
import {
  CONFIG_FILE,
  decodeMemoryState,
  decodeModel,
  encodeMemoryState,
  encodeModel,
  parseModelConfig,
  WEIGHTS_FILE,
  type LoadModelOptions,
  type SavedModelConfig,
} from './weights.js';

/** Writes `data` to `path` atomically and durably (temporary file beside it, fsync, rename): the one writer, from @engram/core/node. */
export { writeFileAtomic };

/** Writes tensors to a safetensors file atomically. */
export async function writeSafetensors(path: string, tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

async function readBytes(path: string, what: string, hint = ''): Promise<Uint8Array> {
  try {
    return await fs.readFile(path);
  } catch (cause) {
    const message = `${what}: cannot read "${path}" (${(cause as Error).message})${hint}.`;
    throw what === 'readSafetensors' ? new SafetensorsError(message, { cause }) : new WeightsError(message, { cause });
  }
}

/** Reads a safetensors file; the caller owns (and disposes) the returned tensors. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  const bytes = await readBytes(path, 'readSafetensors');
  try {
    return decodeSafetensors(bytes);
  } catch (error) {
    if (error instanceof SafetensorsError) {
      throw new SafetensorsError(`${error.message} (file "${path}")`, { cause: error });
    }
    throw error;
  }
}

/**
 * Writes `model.safetensors` and `config.json` (see `encodeModel`) into `directory` (created if
 * needed). Each file is written atomically (temporary file + rename); the weights are written first.
 */
export async function saveModel(model: MemoryTransformer, directory: string): Promise<void> {
  const files = encodeModel(model);
  await fs.mkdir(directory, { recursive: true });
  await writeFileAtomic(join(directory, WEIGHTS_FILE), files.weights);
  await writeFileAtomic(join(directory, CONFIG_FILE), files.config);
}

/** Reads and checks `config.json` of a saved model directory. */
export async function readModelConfig(directory: string): Promise<SavedModelConfig> {
  const path = join(directory, CONFIG_FILE);
  const bytes = await readBytes(path, 'loadModel', `; is "${directory}" a directory written by saveModel?`);
  return parseModelConfig(new TextDecoder().decode(bytes), path);
}

/**
 * Recreates a model saved by {@link saveModel} (see `decodeModel` for the policy, the checks and
 * `configOverrides`).
 */
export async function loadModel(directory: string, options: LoadModelOptions = {}): Promise<MemoryTransformer> {
  const configPath = join(directory, CONFIG_FILE);
  const config = new TextDecoder().decode(await readBytes(configPath, 'loadModel', `; is "${directory}" a directory written by saveModel?`));
  // Check the config before reading the (larger) weights, so a wrong directory fails on its config.
  parseModelConfig(config, configPath);
  const weights = await readBytes(join(directory, WEIGHTS_FILE), 'readSafetensors');
  return decodeModel({ config, weights }, { ...options, source: directory });
}

/** Writes a memory state (via `policy.serializeState`) to a safetensors file, atomically. */
export async function saveMemoryState(policy: MemoryPolicy, state: MemoryState, path: string): Promise<void> {
  await writeFileAtomic(path, encodeMemoryState(policy, state));
}

/** Reads a memory state written by {@link saveMemoryState} (via `policy.deserializeState`). */
export async function loadMemoryState(policy: MemoryPolicy, path: string): Promise<MemoryState> {
  return decodeMemoryState(policy, await readBytes(path, 'readSafetensors'), path);
}
