// `engram train`: trains a model from a configuration with @engram/trainer and saves it with its tokenizer; never overwrites a run it was not asked to.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { StreamBatcher, evaluationBatches, planEvaluation } from '@engram/datasets';
import { loadTokenizer, saveTokenizer } from '@engram/datasets/node';
import { createModel } from '@engram/model';
import { NonFiniteLossError, tokensChecksum } from '@engram/trainer';
import {
  CsvLogger,
  TensorBoardLogger,
  findResumableCheckpoint,
  train,
  type ProgressMode,
  type TrainerCallback,
  type TrainResult,
} from '@engram/trainer/node';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { setupBackend } from '../backend.js';
import { assertFits, estimateTrainingBytes, trainingShapeOf } from '../budget.js';
import { createPolicy, modelConfigOf, temporalRangeOf, unrollOf } from '../build.js';
import { loadConfigModules } from '../config/load-modules.js';
import { resolveConfig, validateConfig, type ConfigSources } from '../config/resolve.js';
import type { EngramConfig } from '../config/schema.js';
import { CliError, ConfigFileError, InputError, UsageError } from '../errors.js';
import {
  checkRegularFile,
  describeContents,
  isMissingOrEmpty,
  naming,
  readTextFile,
  removeTemporaryLeftovers,
  replaceFolder,
  SMALL_FILE_BYTES,
  temporaryPathBeside,
  TOKENIZER_FILE_BYTES,
  withDirectoryLock,
  writeFileAtomic,
} from '../files.js';
import { writeLine, type CommandIo } from '../io.js';
import { loadCorpusTokens } from '../data.js';
import { saveTrainedModel, TOKENIZER_FILE } from '../model-files.js';

/** Options of {@link trainCommand}. */
export interface TrainCommandOptions extends ConfigSources {
  /** Run directory: config.yaml, tokenizer.json, train.jsonl, checkpoints/ and the final model/. */
  out: string;
  /** Continue the run in `out` from its newest valid checkpoint (its saved configuration is used). */
  resume?: boolean;
  /** With `resume`: train until this many steps in total (the only setting a resumed run may change). */
  resumeSteps?: number;
  /** Replace the run already in `out` (it is moved aside, and removed once the new run has finished). */
  force?: boolean;
  /** Progress on stderr (default auto: a bar on a TTY, lines otherwise). */
  progress?: ProgressMode;
  /** Never download a corpus. */
  offline?: boolean;
  /** No information lines (backend, data, model) on stderr; pair with `progress: 'none'`. */
  quiet?: boolean;
}

/** What {@link trainCommand} returns. */
export interface TrainSummary {
  config: EngramConfig;
  runDirectory: string;
  modelDirectory: string;
  result: TrainResult;
  /** Bits per token on the validation split at the end (null without evaluation). */
  validationBitsPerToken: number | null;
}

/** The run configuration file inside a run directory. */
export const RUN_CONFIG_FILE = 'config.yaml';

/** Files of a run directory besides config.yaml and the tokenizer. */
export const RUN_FILES = {
  /** Every record of the run, one JSON object a line. */
  log: 'train.jsonl',
  /** The scalars as `step,tag,value,time` rows. */
  scalars: 'scalars.csv',
  /** TensorBoard event files: `tensorboard --logdir <run>/tensorboard`. */
  tensorboard: 'tensorboard',
  /** Which checkpoint had the best validation figure (rewritten atomically at each improvement). */
  bestCheckpoint: 'best-checkpoint.json',
} as const;

/** The content of {@link RUN_FILES}.bestCheckpoint. */
export interface BestCheckpointPointer {
  step: number;
  /** Checkpoint directory relative to the run directory. */
  checkpoint: string;
  metric: string;
  value: number;
}

/** Keeps `best-checkpoint.json` pointing at the checkpoint of the best evaluation so far. */
function bestCheckpointPointer(runDirectory: string, metric: string): TrainerCallback {
  return {
    onCheckpoint: async (record, run) => {
      const { bestStep, bestMetric } = run.progress;
      if (bestStep !== record.step || bestMetric === null) return;
      const pointer: BestCheckpointPointer = {
        step: bestStep,
        checkpoint: relative(runDirectory, record.path),
        metric,
        value: bestMetric,
      };
      await writeFileAtomic(join(runDirectory, RUN_FILES.bestCheckpoint), `${JSON.stringify(pointer, null, 2)}\n`);
    },
  };
}

/** Validation tokens evaluated at each evaluation (a prefix of the split, in order). */
function validationSlice(tokens: Int32Array, limit: number | null): Int32Array {
  return limit === null || tokens.length <= limit + 1 ? tokens : tokens.subarray(0, limit + 1);
}

async function savedConfig(runDirectory: string, out: string): Promise<EngramConfig> {
  const path = join(runDirectory, RUN_CONFIG_FILE);
  if ((await stat(path).catch(() => null)) === null) {
    throw new UsageError(`--resume: ${out} has no ${RUN_CONFIG_FILE}; start the run without --resume first`);
  }
  const text = await readTextFile(path, { maxBytes: SMALL_FILE_BYTES, what: `the run's ${RUN_CONFIG_FILE}` });
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigFileError(path, `is not valid YAML (${(error as Error).message.split('\n')[0]}): restore it, or start a fresh run`, {
      cause: error,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigFileError(path, 'does not hold a configuration object: restore it, or start a fresh run');
  }
  return validateConfig(parsed as Record<string, unknown>, path);
}

/**
 * Refuses a fresh run into a directory that already holds files (unless `force`), and a resume that has
 * nothing to resume or nothing left to do. Nothing is written.
 */
async function checkRunDirectory(options: TrainCommandOptions, runDirectory: string, config: EngramConfig): Promise<void> {
  await naming(options.out, 'use --out as a run directory', () => checkRunDirectoryState(options, runDirectory, config));
}

async function checkRunDirectoryState(options: TrainCommandOptions, runDirectory: string, config: EngramConfig): Promise<void> {
  const info = await stat(runDirectory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (info !== null && !info.isDirectory()) {
    throw new UsageError(`--out ${options.out} is a file, not a run directory: choose another --out`);
  }
  if (options.resume !== true) {
    if (options.force !== true && !(await isMissingOrEmpty(runDirectory))) {
      throw new UsageError(
        `--out ${options.out} already holds files (${describeContents(runDirectory)}): continue that run with --resume, ` +
          'choose a new --out, or add --force to replace it',
      );
    }
    return;
  }
  const candidate = await findResumableCheckpoint(join(runDirectory, 'checkpoints'));
  if (candidate.path === null || candidate.step === null) {
    const found =
      candidate.skipped.length === 0
        ? 'holds no checkpoint'
        : `holds no usable checkpoint (${candidate.skipped.map((entry) => `step ${entry.step}: ${entry.problem}`).join('; ')})`;
    throw new InputError(options.out, `cannot resume ${options.out}: it ${found}; start a fresh run with another --out (or --force to replace this one)`);
  }
  if (candidate.step >= config.training.steps) {
    throw new UsageError(
      `${options.out} has already trained ${candidate.step} steps (the run asks for ${config.training.steps}): ` +
        `give --steps N with N > ${candidate.step} to train further; nothing was changed`,
    );
  }
}

/**
 * Trains, evaluates and saves; returns the trainer's result. Everything that can be checked is checked before
 * the first write (configuration, run directory, corpus, memory estimate); the run directory is locked while
 * the command writes into it; the final model/ is swapped in whole.
 */
export async function trainCommand(options: TrainCommandOptions, io: CommandIo): Promise<TrainSummary> {
  const runDirectory = resolve(options.out);
  if (options.resume === true && options.force === true) {
    throw new UsageError('--resume continues the run in --out and --force replaces it: give one of them');
  }
  let config: EngramConfig;
  if (options.resume === true) {
    const configFlags =
      options.kind !== undefined ||
      options.preset !== undefined ||
      options.file !== undefined ||
      (options.settings ?? []).length > 0 ||
      (options.overrides ?? []).some((override) => Object.keys(override).length > 0);
    if (configFlags) {
      throw new UsageError('--resume continues the saved configuration of the run; only --steps and --backend may be given with it');
    }
    config = await loadConfigModules(await savedConfig(runDirectory, options.out), join(runDirectory, RUN_CONFIG_FILE));
    if (options.resumeSteps !== undefined) config = { ...config, training: { ...config.training, steps: options.resumeSteps } };
    if (options.backend !== undefined) config = { ...config, backend: options.backend as EngramConfig['backend'] };
  } else {
    // User modules (kind custom, a compressor from a module) are imported and checked before anything is written.
    config = await loadConfigModules(resolveConfig(options), options.file ?? 'the configuration');
  }
  await checkRunDirectory(options, runDirectory, config);
  const backend = await setupBackend(config.backend);
  const info = (line: string) => {
    if (options.quiet !== true) writeLine(io.stderr, line);
  };
  info(`backend: ${backend.description}`);

  const runTokenizerPath = join(runDirectory, TOKENIZER_FILE);
  let previousTokenizer;
  if (options.resume === true && (await stat(runTokenizerPath).catch(() => null)) !== null) {
    await checkRegularFile(runTokenizerPath, { maxBytes: TOKENIZER_FILE_BYTES, what: "the run's tokenizer" });
    previousTokenizer = await loadTokenizer(runTokenizerPath);
  }
  const tokens = await loadCorpusTokens(config.data, {
    ...(options.offline === undefined ? {} : { offline: options.offline }),
    ...(previousTokenizer === undefined ? {} : { tokenizer: previousTokenizer }),
  });
  info(
    `data: ${tokens.corpus}, ${tokens.tokenizer.kind} tokenizer (${tokens.tokenizer.vocabSize} tokens), ` +
      `train ${tokens.train.length.toLocaleString('en-US')} / valid ${tokens.valid.length.toLocaleString('en-US')} tokens` +
      (tokens.origin === 'prepared' ? ' (prepared cache)' : ''),
  );
  const modelConfig = modelConfigOf(config, tokens.tokenizer.vocabSize);
  assertFits(
    estimateTrainingBytes(trainingShapeOf(config, tokens.tokenizer.vocabSize, unrollOf(config))),
    `one training step of this configuration (batch ${config.training.batchSize}, segment ${config.model.segmentLength})`,
    'lower training.batchSize (--batch-size), model.segmentLength, the memory length or the model size',
  );

  return withDirectoryLock(runDirectory, async () => {
    // Checked again under the lock: another command may have written meanwhile.
    await checkRunDirectory(options, runDirectory, config);
    let replaced: string | null = null;
    if (options.resume !== true && !(await isMissingOrEmpty(runDirectory))) {
      // --force: the old run is moved aside (never deleted first) and removed once the new run has finished.
      replaced = temporaryPathBeside(runDirectory, 'old');
      await naming(options.out, 'move the old run aside', () => rename(runDirectory, replaced as string));
    }
    try {
      const summary = await naming(options.out, 'write the run', () => trainInto(options, io, runDirectory, config, modelConfig, tokens)).catch(
        (error: unknown) => {
          throw NonFiniteLossError.isInstance(error) ? nonFiniteStop(error, options.out) : error;
        },
      );
      if (replaced !== null) await rm(replaced, { recursive: true, force: true });
      return summary;
    } catch (error) {
      if (replaced !== null && error instanceof Error) {
        error.message += ` (the run this one replaces is kept in ${replaced})`;
      }
      throw error;
    }
  });
}

/** The trainer's non-finite stop, with advice in the command's terms (its flags, not the library's options). */
function nonFiniteStop(error: NonFiniteLossError, out: string): CliError {
  const what =
    error.during === 'evaluation'
      ? 'the validation loss is not finite: the weights diverged'
      : `${error.inARow} steps in a row had a non-finite loss or gradient (their updates were skipped)`;
  return new CliError(
    `training stopped at step ${error.step}: ${what}. Start a new run with a lower --learning-rate or a longer warm-up ` +
      `(--set training.warmupSteps=N), or check the corpus; ${out} keeps the log and the checkpoints written before the stop`,
    { cause: error },
  );
}

async function trainInto(
  options: TrainCommandOptions,
  io: CommandIo,
  runDirectory: string,
  config: EngramConfig,
  modelConfig: ReturnType<typeof modelConfigOf>,
  tokens: Awaited<ReturnType<typeof loadCorpusTokens>>,
): Promise<TrainSummary> {
  await mkdir(runDirectory, { recursive: true });
  await removeTemporaryLeftovers(runDirectory);
  if (options.resume !== true) await writeFileAtomic(join(runDirectory, RUN_CONFIG_FILE), toYaml(config));
  if (options.resume !== true || (await stat(join(runDirectory, TOKENIZER_FILE)).catch(() => null)) === null) {
    await saveTokenizer(tokens.tokenizer, join(runDirectory, TOKENIZER_FILE));
  }
  const model = createModel(modelConfig, { policy: createPolicy(config) });
  try {
    if (options.quiet !== true) writeLine(
      io.stderr,
      `model: ${config.kind}, ${model.parameterCount().toLocaleString('en-US')} parameters, temporal range ${temporalRangeOf(config)} tokens`,
    );
    const training = config.training;
    const segmentLength = config.model.segmentLength;
    const validation = validationSlice(tokens.valid, training.evalTokens);
    const evaluation =
      validation.length >= 2
        ? {
            name: 'validation',
            batches: () => evaluationBatches(validation, { batchSize: training.batchSize, segmentLength }),
            totalBatches: planEvaluation(validation.length, { batchSize: training.batchSize, segmentLength }).steps,
          }
        : undefined;
    const dataChecksum = tokensChecksum(tokens.train);
    const result = await train({
      model,
      datasetChecksum: dataChecksum,
      data: new StreamBatcher(tokens.train, { batchSize: training.batchSize, segmentLength }),
      ...(evaluation === undefined ? {} : { evaluation }),
      steps: training.steps,
      segmentsPerStep: unrollOf(config),
      schedule: {
        learningRate: training.learningRate,
        warmupSteps: Math.min(training.warmupSteps, training.steps),
        decay: training.schedule,
      },
      clipNorm: training.clipNorm ?? 0,
      evalEvery: evaluation === undefined ? 0 : training.evalEvery,
      checkpoint: {
        directory: join(runDirectory, 'checkpoints'),
        ...(training.checkpointEvery > 0 ? { every: training.checkpointEvery } : {}),
      },
      resume: options.resume === true,
      log: { path: join(runDirectory, RUN_FILES.log) },
      loggers: [new CsvLogger(join(runDirectory, RUN_FILES.scalars)), new TensorBoardLogger(join(runDirectory, RUN_FILES.tensorboard))],
      callbacks: [bestCheckpointPointer(runDirectory, 'bitsPerToken')],
      // Warnings go through the trainer's progress (printed once, above the bar).
      progress: options.progress ?? 'auto',
      progressStream: io.stderr,
      run: { command: 'engram train', config, corpus: tokens.corpus },
    });
    const lastEvaluation = result.evaluations[result.evaluations.length - 1];
    const validationBitsPerToken = lastEvaluation?.bitsPerToken ?? null;
    const modelDirectory = join(runDirectory, 'model');
    await replaceFolder(modelDirectory, (folder) =>
      saveTrainedModel(folder, model, tokens.tokenizer, {
        format: 'engram-cli-model',
        formatVersion: 1,
        config,
        corpus: tokens.corpus,
        steps: result.step,
        validationBitsPerToken,
        dataChecksum,
        bestValidation: result.bestStep === null || result.bestMetric === null ? null : { step: result.bestStep, bitsPerToken: result.bestMetric },
      }),
    );
    const bpt = validationBitsPerToken === null ? 'not evaluated' : `${validationBitsPerToken.toFixed(4)} bits per token`;
    writeLine(io.stdout, `trained ${config.kind} for ${result.step} steps: validation ${bpt}; model saved to ${modelDirectory}`);
    return { config, runDirectory, modelDirectory, result, validationBitsPerToken };
  } finally {
    model.dispose();
  }
}
