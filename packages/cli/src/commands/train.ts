// `engram train`: trains a model from a configuration with @engram/trainer and saves it with its tokenizer.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StreamBatcher, evaluationBatches, loadTokenizer, saveTokenizer } from '@engram/datasets';
import { createModel, writeFileAtomic } from '@engram/model';
import { train, type ProgressMode, type TrainResult } from '@engram/trainer';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { setupBackend } from '../backend.js';
import { createPolicy, modelConfigOf, temporalRangeOf, unrollOf } from '../build.js';
import { resolveConfig, validateConfig, type ConfigSources } from '../config/resolve.js';
import type { EngramConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
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
  /** Progress on stderr (default auto: a bar on a TTY, lines otherwise). */
  progress?: ProgressMode;
  /** Never download a corpus. */
  offline?: boolean;
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

/** Validation tokens evaluated at each evaluation (a prefix of the split, in order). */
function validationSlice(tokens: Int32Array, limit: number | null): Int32Array {
  return limit === null || tokens.length <= limit + 1 ? tokens : tokens.subarray(0, limit + 1);
}

async function savedConfig(runDirectory: string): Promise<EngramConfig> {
  const path = join(runDirectory, 'config.yaml');
  if (!existsSync(path)) {
    throw new UsageError(`--resume: ${runDirectory} has no config.yaml; start the run without --resume first`);
  }
  return validateConfig(parseYaml(await readFile(path, 'utf8')) as Record<string, unknown>, path);
}

/** Trains, evaluates and saves; returns the trainer's result. */
export async function trainCommand(options: TrainCommandOptions, io: CommandIo): Promise<TrainSummary> {
  const runDirectory = resolve(options.out);
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
    config = await savedConfig(runDirectory);
    if (options.resumeSteps !== undefined) config = { ...config, training: { ...config.training, steps: options.resumeSteps } };
    if (options.backend !== undefined) config = { ...config, backend: options.backend as EngramConfig['backend'] };
  } else {
    config = resolveConfig(options);
  }
  const backend = await setupBackend(config.backend);
  writeLine(io.stderr, `backend: ${backend.description}`);

  await mkdir(runDirectory, { recursive: true });
  const previousTokenizer = options.resume === true && existsSync(join(runDirectory, TOKENIZER_FILE))
    ? await loadTokenizer(join(runDirectory, TOKENIZER_FILE))
    : undefined;
  const tokens = await loadCorpusTokens(config.data, {
    ...(options.offline === undefined ? {} : { offline: options.offline }),
    ...(previousTokenizer === undefined ? {} : { tokenizer: previousTokenizer }),
  });
  writeLine(
    io.stderr,
    `data: ${tokens.corpus}, ${tokens.tokenizer.kind} tokenizer (${tokens.tokenizer.vocabSize} tokens), ` +
      `train ${tokens.train.length.toLocaleString('en-US')} / valid ${tokens.valid.length.toLocaleString('en-US')} tokens` +
      (tokens.origin === 'prepared' ? ' (prepared cache)' : ''),
  );
  if (!options.resume) {
    await writeFileAtomic(join(runDirectory, 'config.yaml'), toYaml(config));
  }
  await saveTokenizer(tokens.tokenizer, join(runDirectory, TOKENIZER_FILE));

  const model = createModel(modelConfigOf(config, tokens.tokenizer.vocabSize), { policy: createPolicy(config) });
  try {
    writeLine(
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
          }
        : undefined;
    const result = await train({
      model,
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
      log: { path: join(runDirectory, 'train.jsonl') },
      progress: options.progress ?? 'auto',
      progressStream: io.stderr,
      run: { command: 'engram train', config, corpus: tokens.corpus },
      onWarning: (message) => writeLine(io.stderr, `warning: ${message}`),
    });
    const lastEvaluation = result.evaluations[result.evaluations.length - 1];
    const validationBitsPerToken = lastEvaluation?.bitsPerToken ?? null;
    const modelDirectory = join(runDirectory, 'model');
    await saveTrainedModel(modelDirectory, model, tokens.tokenizer, {
      format: 'engram-cli-model',
      formatVersion: 1,
      config,
      corpus: tokens.corpus,
      steps: result.step,
      validationBitsPerToken,
    });
    const bpt = validationBitsPerToken === null ? 'not evaluated' : `${validationBitsPerToken.toFixed(4)} bits per token`;
    writeLine(io.stdout, `trained ${config.kind} for ${result.step} steps: validation ${bpt}; model saved to ${modelDirectory}`);
    return { config, runDirectory, modelDirectory, result, validationBitsPerToken };
  } finally {
    model.dispose();
  }
}
