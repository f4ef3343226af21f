// `engram export`: writes a self-contained model directory (safetensors, or TensorFlow.js weights for browsers) from a run, a checkpoint or a model.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveTokenizer } from '@engram/datasets';
import { exportTransformerXl, saveModel, writeFileAtomic, type TransformerXlNaming } from '@engram/model';
import { listCheckpoints, verifyCheckpoint } from '@engram/trainer';
import { setupBackend } from '../backend.js';
import type { BackendChoice } from '../config/schema.js';
import { InputError, UsageError } from '../errors.js';
import { writeLine, type CommandIo } from '../io.js';
import {
  ENGRAM_FILE,
  loadTrainedModel,
  saveTrainedModel,
  TOKENIZER_FILE,
  type TrainedModel,
} from '../model-files.js';

/** Export formats. */
export const exportFormats = ['safetensors', 'tfjs', 'transformer-xl'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** Options of {@link exportCommand}. */
export interface ExportCommandOptions {
  /** A run directory of engram train, a checkpoint directory, or a model directory. */
  source: string;
  /** Output directory (created). */
  out: string;
  /**
   * From a run directory: `final` (default, the model/ written at the end), `latest` (the newest valid
   * checkpoint) or a step number.
   */
  checkpoint?: string;
  /** `safetensors` (default; loadModel and every engram command read it) or `tfjs` (model.json + weights.bin for tf.io). */
  format?: ExportFormat;
  /** With `transformer-xl`: the official code's state_dict names (default) or Hugging Face's. */
  naming?: TransformerXlNaming;
  backend?: BackendChoice;
}

/** The model directory to export from. */
async function pickModelDirectory(source: string, checkpoint: string | undefined): Promise<string> {
  const absolute = resolve(source);
  if (existsSync(join(absolute, 'manifest.json'))) {
    await verifyCheckpoint(absolute);
    return join(absolute, 'model');
  }
  if (checkpoint === undefined || checkpoint === 'final') return absolute;
  const entries = (await listCheckpoints(join(absolute, 'checkpoints'), { verify: true })).filter((entry) => entry.valid === true);
  if (entries.length === 0) throw new InputError(source, `${source} has no valid checkpoint under checkpoints/`);
  const entry =
    checkpoint === 'latest' ? entries[entries.length - 1] : entries.find((candidate) => candidate.step === Number(checkpoint));
  if (entry === undefined) {
    throw new UsageError(
      `--checkpoint ${checkpoint}: no valid checkpoint at that step; available: ${entries.map((candidate) => candidate.step).join(', ')}, latest, final`,
    );
  }
  return join(entry.path, 'model');
}

/** Exports and returns the output directory. */
export async function exportCommand(options: ExportCommandOptions, io: CommandIo): Promise<string> {
  const format = options.format ?? 'safetensors';
  if (!(exportFormats as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${exportFormats.join(', ')}, got "${format}"`);
  }
  if (options.naming !== undefined && format !== 'transformer-xl') {
    throw new UsageError(`--naming applies to --format transformer-xl only, got --format ${format}`);
  }
  await setupBackend(options.backend ?? 'auto');
  const modelDirectory = await pickModelDirectory(options.source, options.checkpoint);
  const runDirectory = resolve(options.source);
  // A checkpoint's model/ lacks the tokenizer and engram.json: take them from the run directory.
  const staging = existsSync(join(modelDirectory, TOKENIZER_FILE)) ? null : await withRunFiles(modelDirectory, runDirectory);
  let trained: TrainedModel;
  try {
    trained = await loadTrainedModel(staging ?? modelDirectory);
  } finally {
    if (staging !== null) await rm(staging, { recursive: true, force: true });
  }
  const out = resolve(options.out);
  try {
    await mkdir(out, { recursive: true });
    if (format === 'tfjs') {
      await exportTfjs(out, trained);
    } else if (format === 'transformer-xl') {
      await exportPytorch(out, trained, options.naming ?? 'official');
    } else if (trained.document === null) {
      await saveModel(trained.model, out);
      await saveTokenizer(trained.tokenizer, join(out, TOKENIZER_FILE));
    } else {
      await saveTrainedModel(out, trained.model, trained.tokenizer, trained.document);
    }
    writeLine(io.stdout, `exported ${format} model to ${out}`);
    return out;
  } finally {
    trained.model.dispose();
  }
}

/**
 * Copies a checkpoint's model files next to the run's tokenizer and engram.json in a staging folder, so
 * the checkpoint loads like a finished model.
 */
async function withRunFiles(modelDirectory: string, runDirectory: string): Promise<string> {
  const runTokenizer = [join(runDirectory, TOKENIZER_FILE), join(runDirectory, '..', '..', TOKENIZER_FILE)].find((path) => existsSync(path));
  if (runTokenizer === undefined) {
    throw new InputError(runDirectory, `no ${TOKENIZER_FILE} found for ${modelDirectory}: export from the run directory of engram train`);
  }
  const staging = join(modelDirectory, '..', `.export-${process.pid}`);
  await mkdir(staging, { recursive: true });
  for (const file of ['model.safetensors', 'config.json']) await copyFile(join(modelDirectory, file), join(staging, file));
  await copyFile(runTokenizer, join(staging, TOKENIZER_FILE));
  const runModelDocument = join(runDirectory, 'model', ENGRAM_FILE);
  if (existsSync(runModelDocument)) await copyFile(runModelDocument, join(staging, ENGRAM_FILE));
  return staging;
}

/**
 * TensorFlow.js weights: `weights.bin` (tf.io.encodeWeights of every variable under its stable name),
 * `model.json` (the weights manifest, the model and policy configuration), plus tokenizer.json.
 * Load in a browser with `tf.io.decodeWeights(buffer, manifest.weightsManifest[0].weights)`.
 */
async function exportTfjs(out: string, trained: TrainedModel): Promise<void> {
  const named = trained.model.namedVariables();
  const encoded = await tf.io.encodeWeights(named);
  await writeFileAtomic(join(out, 'weights.bin'), new Uint8Array(encoded.data as ArrayBuffer));
  const manifest = {
    format: 'engram-tfjs-weights',
    formatVersion: 1,
    model: trained.model.config,
    policy: { kind: trained.model.policy.kind, config: trained.model.policy.config() },
    engram: trained.document,
    weightsManifest: [{ paths: ['weights.bin'], weights: encoded.specs }],
  };
  await writeFileAtomic(join(out, 'model.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await saveTokenizer(trained.tokenizer, join(out, TOKENIZER_FILE));
}

/**
 * The PyTorch Transformer-XL: `model.safetensors` (the state_dict, official or Hugging Face names),
 * `config.json` (MemTransformerLM arguments, or Hugging Face's config) and engram's tokenizer.json
 * (for `engram import` on the way back).
 */
async function exportPytorch(out: string, trained: TrainedModel, naming: TransformerXlNaming): Promise<void> {
  const { safetensors, config } = exportTransformerXl(trained.model, { naming });
  await writeFileAtomic(join(out, 'model.safetensors'), safetensors);
  await writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await saveTokenizer(trained.tokenizer, join(out, TOKENIZER_FILE));
}
