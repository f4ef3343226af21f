// `engram export`: writes a self-contained model directory, never over another one unless asked, (safetensors, or TensorFlow.js weights for browsers) from a run, a checkpoint or a model.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveTokenizer } from '@engram/datasets/node';
import { exportTransformerXl, type TransformerXlNaming } from '@engram/model';
import { saveModel } from '@engram/model/node';
import { listCheckpoints, verifyCheckpoint } from '@engram/trainer/node';
import { setupBackend } from '../backend.js';
import type { BackendChoice } from '../config/schema.js';
import { InputError, UsageError } from '../errors.js';
import {
  assertOutsideSource,
  describeContents,
  isMissingOrEmpty,
  naming,
  replaceFolder,
  withDirectoryLock,
  writeFileAtomic,
} from '../files.js';
import { MODEL_CARD_FILE, modelCard } from '../model-card.js';
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
  /** Output directory (created; one that already holds files is refused unless `overwrite`). */
  out: string;
  /** Replace what `out` holds (the new directory is swapped in whole). */
  overwrite?: boolean;
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

/**
 * Exports and returns the output directory. An `out` that already holds files is refused unless `overwrite`;
 * the new directory is filled beside it and swapped in whole, under the lock of `out`.
 */
export async function exportCommand(options: ExportCommandOptions, io: CommandIo): Promise<string> {
  const format = options.format ?? 'safetensors';
  if (!(exportFormats as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${exportFormats.join(', ')}, got "${format}"`);
  }
  if (options.naming !== undefined && format !== 'transformer-xl') {
    throw new UsageError(`--naming applies to --format transformer-xl only, got --format ${format}`);
  }
  const out = resolve(options.out);
  assertOutsideSource(options.out, options.source, '--out');
  await checkOut(options, out);
  await setupBackend(options.backend ?? 'auto');
  const modelDirectory = await pickModelDirectory(options.source, options.checkpoint);
  const runDirectory = resolve(options.source);
  // A checkpoint's model/ lacks the tokenizer and engram.json: take them from the run directory.
  const companions = existsSync(join(modelDirectory, TOKENIZER_FILE)) ? undefined : runFilesOf(modelDirectory, runDirectory);
  const trained = await loadTrainedModel(modelDirectory, companions === undefined ? {} : { companions });
  try {
    await withDirectoryLock(out, async () => {
      await checkOut(options, out);
      await naming(options.out, 'write the export', () =>
        replaceFolder(out, async (folder) => {
          if (format === 'tfjs') {
            await exportTfjs(folder, trained);
          } else if (format === 'transformer-xl') {
            await exportPytorch(folder, trained, options.naming ?? 'official');
          } else if (trained.document === null) {
            await saveModel(trained.model, folder);
            await saveTokenizer(trained.tokenizer, join(folder, TOKENIZER_FILE));
          } else {
            await saveTrainedModel(folder, trained.model, trained.tokenizer, trained.document);
          }
          await writeFileAtomic(join(folder, MODEL_CARD_FILE), modelCard(trained, { format, source: options.source }));
        }),
      );
    });
    writeLine(io.stdout, `exported ${format} model to ${out}`);
    return out;
  } finally {
    trained.model.dispose();
  }
}

/** Refuses an `--out` that is a file, or a folder with files in it without `--overwrite`. */
async function checkOut(options: ExportCommandOptions, out: string): Promise<void> {
  const info = await naming(options.out, 'use --out as the export directory', () =>
    stat(out).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    }),
  );
  if (info !== null && !info.isDirectory()) throw new UsageError(`--out ${options.out} is a file: choose a directory for the export`);
  if (options.overwrite !== true && !(await naming(options.out, 'use --out as the export directory', () => isMissingOrEmpty(out)))) {
    throw new UsageError(
      `--out ${options.out} already holds files (${describeContents(out)}): choose an empty or new directory, or add --overwrite to replace it`,
    );
  }
}

/** The run's tokenizer.json and model/engram.json for a checkpoint's model directory. */
function runFilesOf(modelDirectory: string, runDirectory: string): { tokenizer: string; document?: string } {
  const runTokenizer = [join(runDirectory, TOKENIZER_FILE), join(runDirectory, '..', '..', TOKENIZER_FILE)].find((path) => existsSync(path));
  if (runTokenizer === undefined) {
    throw new InputError(runDirectory, `no ${TOKENIZER_FILE} found for ${modelDirectory}: export from the run directory of engram train`);
  }
  const runModelDocument = [join(runDirectory, 'model', ENGRAM_FILE), join(runDirectory, '..', '..', 'model', ENGRAM_FILE)].find((path) =>
    existsSync(path),
  );
  return { tokenizer: runTokenizer, ...(runModelDocument === undefined ? {} : { document: runModelDocument }) };
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
