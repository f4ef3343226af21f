// The `engram` command tree (commander): train, eval, generate, export, inspect, data, config, presets.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { addConfigOptions, backendOption, collect, configSourcesOf, integer, positiveNumber, type ConfigFlags } from './command-options.js';
import type { ConfigInput } from './config/presets.js';
import { configCommand, configSchemaCommand, presetsCommand } from './commands/config.js';
import { dataDownloadCommand, dataListCommand, dataPrepareCommand, dataVerifyCommand } from './commands/data.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand, exportFormats, type ExportFormat } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { importCommand, transformerXlNamings } from './commands/import.js';
import { inspectCommand } from './commands/inspect.js';
import { trainCommand } from './commands/train.js';
import type { BackendChoice } from './config/schema.js';
import { describeError, exitCodeOf } from './errors.js';
import { processIo, writeLine, type CommandIo } from './io.js';

/** The version printed by `engram --version`: this package's own (package.json sits one level above src/ and dist/). */
export const cliVersion: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Builds the command tree. Actions write to `io`; errors propagate to {@link runCli}. */
export function createProgram(io: CommandIo = processIo): Command {
  const program = new Command('engram')
    .description(
      'Train, evaluate, sample from and inspect long-range-memory transformers ' +
        '(Transformer-XL, Compressive Transformer, Expire-Span, Adaptive-Span) on TensorFlow.js.',
    )
    .version(cliVersion, '-V, --version')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // One line: `engram: error: unknown option '--foo' (see --help)`.
      outputError: (text, write) => write(`engram: ${text.trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`),
    })
    .exitOverride();

  addConfigOptions(
    program
      .command('train')
      .description('train a model (preset, config file and flags) and save it with its tokenizer in a run directory')
      .requiredOption('-o, --out <dir>', 'run directory: config.yaml, train.jsonl, checkpoints/, model/')
      .option('--steps <n>', 'training steps (training.steps)', integer('--steps', 1))
      .option('--batch-size <n>', 'rows per batch (training.batchSize)', integer('--batch-size', 1))
      .option('--learning-rate <x>', 'peak learning rate (training.learningRate)', positiveNumber('--learning-rate'))
      .option('--seed <n>', 'seed of the initial weights (model.seed)', integer('--seed', 0))
      .option('--corpus <name>', 'corpus (data.corpus): moby-dick, enwik8, text8, wikitext-103, wikitext-103-raw, pg19, local')
      .option('--path <file>', 'text file or folder for --corpus local (data.path)')
      .option('--tokenizer <kind>', 'byte, character, word, subword (BPE trained on train) or a tokenizer.json path (data.tokenizer)')
      .option('--vocab-size <n>', 'vocabulary size of a subword tokenizer (data.subwordVocabSize)', integer('--vocab-size', 256))
      .option('--eval-every <n>', 'evaluate every n steps; 0 = only at the end (training.evalEvery)', integer('--eval-every', 0))
      .option('--checkpoint-every <n>', 'checkpoint every n steps; 0 = at evaluations (training.checkpointEvery)', integer('--checkpoint-every', 0))
      .option('--eval-tokens <n>', 'validation tokens per evaluation (training.evalTokens)', integer('--eval-tokens', 1))
      .option('-q, --quiet', 'no progress and no information lines on stderr (warnings and errors still print)')
      .option('--resume', 'continue the run in --out from its newest valid checkpoint')
      .option('--force', 'replace the run already in --out (kept aside until the new run has finished)')
      .addOption(new Option('--progress <mode>', 'progress display').choices(['auto', 'bar', 'lines', 'none']).default('auto'))
      .option('--offline', 'never download a corpus')
      .addOption(backendOption()),
  ).action(
    async (
      flags: ConfigFlags & {
        out: string;
        steps?: number;
        batchSize?: number;
        learningRate?: number;
        seed?: number;
        corpus?: string;
        path?: string;
        tokenizer?: string;
        vocabSize?: number;
        evalEvery?: number;
        checkpointEvery?: number;
        evalTokens?: number;
        quiet?: boolean;
        resume?: boolean;
        force?: boolean;
        progress: 'auto' | 'bar' | 'lines' | 'none';
        offline?: boolean;
      },
    ) => {
      const training = {
        ...(flags.steps === undefined || flags.resume === true ? {} : { steps: flags.steps }),
        ...(flags.batchSize === undefined ? {} : { batchSize: flags.batchSize }),
        ...(flags.learningRate === undefined ? {} : { learningRate: flags.learningRate }),
        ...(flags.evalEvery === undefined ? {} : { evalEvery: flags.evalEvery }),
        ...(flags.checkpointEvery === undefined ? {} : { checkpointEvery: flags.checkpointEvery }),
        ...(flags.evalTokens === undefined ? {} : { evalTokens: flags.evalTokens }),
      };
      const data = {
        ...(flags.corpus === undefined ? {} : { corpus: flags.corpus }),
        ...(flags.path === undefined ? {} : { path: flags.path }),
        ...(flags.tokenizer === undefined ? {} : { tokenizer: flags.tokenizer }),
        ...(flags.vocabSize === undefined ? {} : { subwordVocabSize: flags.vocabSize }),
      };
      const overrides: ConfigInput[] = [];
      if (Object.keys(training).length > 0) overrides.push({ training });
      if (Object.keys(data).length > 0) overrides.push({ data });
      if (flags.seed !== undefined) overrides.push({ model: { seed: flags.seed } });
      await trainCommand(
        {
          ...configSourcesOf(flags, overrides),
          out: flags.out,
          progress: flags.quiet === true ? 'none' : flags.progress,
          ...(flags.quiet === true ? { quiet: true } : {}),
          ...(flags.resume === true ? { resume: true } : {}),
          ...(flags.force === true ? { force: true } : {}),
          ...(flags.resume === true && flags.steps !== undefined ? { resumeSteps: flags.steps } : {}),
          ...(flags.offline === true ? { offline: true } : {}),
        },
        io,
      );
    },
  );

  program
    .command('eval')
    .description('bits per token of a trained model on a corpus split (one in-order pass, memory carried)')
    .argument('<model>', 'model directory, or run directory of engram train')
    .addOption(new Option('--split <name>', 'split to evaluate').choices(['train', 'valid', 'test']).default('valid'))
    .option('--corpus <name>', 'corpus (default: the one the model was trained on)')
    .option('--path <file>', 'text file or folder for --corpus local')
    .option('--tokens <n>', 'evaluate only the first n tokens of the split', integer('--tokens', 1))
    .option('--batch-size <n>', 'rows evaluated in parallel (default: the training batch size)', integer('--batch-size', 1))
    .option('--json', 'print the result as JSON')
    .option('--offline', 'never download a corpus')
    .option('--eval-memory-length <n>', 'Transformer-XL memory kept in evaluation (default: the saved one; the papers evaluate with a longer one)', integer('--eval-memory-length', 0))
    .option('--same-length', "Transformer-XL's same_length mask: every query sees the same number of keys (the papers' evaluation)")
    .option('--no-same-length', 'evaluate without the same_length mask even if the model was trained with it')
    .addOption(backendOption())
    .action(
      async (
        model: string,
        flags: {
          split: string;
          corpus?: string;
          path?: string;
          tokens?: number;
          batchSize?: number;
          json?: boolean;
          offline?: boolean;
          evalMemoryLength?: number;
          sameLength?: boolean;
          backend?: BackendChoice;
        },
      ) => {
        await evalCommand({ model, ...flags }, io);
      },
    );

  program
    .command('generate')
    .description('continue a prompt with a trained model, token by token through its memory')
    .argument('<model>', 'model directory, or run directory of engram train')
    .option('--prompt <text>', 'text to continue (default: a newline)')
    .option('-n, --max-new-tokens <n>', 'tokens to generate', integer('--max-new-tokens', 1), 200)
    .addOption(new Option('--strategy <name>', 'greedy or sample').choices(['greedy', 'sample']).default('sample'))
    .option('--temperature <x>', 'sampling temperature', positiveNumber('--temperature'))
    .option('--top-k <n>', 'sample among the k most likely tokens', integer('--top-k', 1))
    .option('--top-p <x>', 'sample among the most likely tokens covering probability p', positiveNumber('--top-p'))
    .option('--seed <n>', 'seed of the sampler', integer('--seed', 0), 0)
    .option('--continuation-only', 'print only the generated text, not the prompt')
    .addOption(backendOption())
    .action(
      async (
        model: string,
        flags: {
          prompt?: string;
          maxNewTokens: number;
          strategy: 'greedy' | 'sample';
          temperature?: number;
          topK?: number;
          topP?: number;
          seed: number;
          continuationOnly?: boolean;
          backend?: BackendChoice;
        },
      ) => {
        await generateCommand({ model, ...flags }, io);
      },
    );

  program
    .command('export')
    .description('write a self-contained model directory from a run, a checkpoint or a model')
    .argument('<source>', 'run directory of engram train, checkpoint directory, or model directory')
    .requiredOption('-o, --out <dir>', 'output directory (new or empty, unless --overwrite)')
    .option('--overwrite', 'replace what --out holds (the new directory is swapped in whole)')
    .option('--checkpoint <which>', 'from a run: final (default), latest, or a step number', 'final')
    .addOption(
      new Option(
        '--format <format>',
        'safetensors (loadModel, every engram command), tfjs (model.json + weights.bin for tf.io) or transformer-xl (the PyTorch state_dict + config)',
      )
        .choices(exportFormats)
        .default('safetensors'),
    )
    .addOption(new Option('--naming <naming>', 'with --format transformer-xl: official state_dict names (default) or huggingface').choices(transformerXlNamings))
    .addOption(backendOption())
    .action(
      async (source: string, flags: { out: string; overwrite?: boolean; checkpoint: string; format: ExportFormat; naming?: (typeof transformerXlNamings)[number]; backend?: BackendChoice }) => {
        await exportCommand({ source, ...flags }, io);
      },
    );

  program
    .command('import')
    .description('make an engram model from a PyTorch Transformer-XL (official or Hugging Face: model.safetensors + config.json)')
    .argument('<source>', 'directory with model.safetensors (the state_dict) and config.json')
    .requiredOption('-o, --out <dir>', 'output model directory')
    .option('--tokenizer <file>', "engram tokenizer.json of the model's vocabulary (default: <source>/tokenizer.json, or bytes for 256 tokens)")
    .addOption(new Option('--naming <naming>', 'tensor names (default: detected)').choices(transformerXlNamings))
    .option('--eval-memory-length <n>', 'FIFO memory kept in evaluation (default: mem_len; the papers evaluate with a longer one)', integer('--eval-memory-length', 0))
    .addOption(backendOption())
    .action(
      async (
        source: string,
        flags: { out: string; tokenizer?: string; naming?: (typeof transformerXlNamings)[number]; evalMemoryLength?: number; backend?: BackendChoice },
      ) => {
        await importCommand({ source, ...flags }, io);
      },
    );

  program
    .command('inspect')
    .description('draw which memories a trained model keeps, compresses or forgets while reading a text (SVG)')
    .argument('<model>', 'model directory, or run directory of engram train')
    .option('--text <file>', 'text file to read (default: the start of the validation split)')
    .option('--prompt <text>', 'the text itself, instead of a file')
    .option('--tokens <n>', 'read at most n tokens (default: 8 segments)', integer('--tokens', 1))
    .option('-o, --out <file>', 'SVG file to write', 'memory.svg')
    .option('--offline', 'never download a corpus')
    .addOption(backendOption())
    .action(
      async (
        model: string,
        flags: { text?: string; prompt?: string; tokens?: number; out: string; offline?: boolean; backend?: BackendChoice },
      ) => {
        await inspectCommand({ model, ...flags }, io);
      },
    );

  program
    .command('plot')
    .description('draw learning curves of one or several runs (bits per token by default) to SVG or PNG')
    .argument('<runs...>', 'run directories of engram train (or their train.jsonl)')
    .option('-o, --out <file>', 'output file, .svg or .png', 'curves.svg')
    .option('--tag <tag>', 'scalar to draw instead, e.g. train/gradient_norm or memory/slots/layer_0 (repeatable; names as in scalars.csv)', collect)
    .option('--title <text>', 'chart title')
    .action(async (runs: string[], flags: { out: string; tag?: string[]; title?: string }) => {
      // Loaded on use: the chart libraries would slow every other command's start.
      const { plotCommand } = await import('./commands/plot.js');
      await plotCommand(
        { runs, out: flags.out, ...(flags.tag === undefined ? {} : { tags: flags.tag }), ...(flags.title === undefined ? {} : { title: flags.title }) },
        io,
      );
    });

  const data = program.command('data').description('list, download, verify and prepare corpora');
  data
    .command('list')
    .description('the corpora, and which are cached or prepared')
    .option('--cache-dir <dir>', 'corpus cache (default: $ENGRAM_CACHE_DIR, else ~/.cache/engram)')
    .action((flags: { cacheDir?: string }) => dataListCommand(flags, io));
  data
    .command('download')
    .description('download a corpus into the cache and check its size (and zip checksums)')
    .argument('<corpus>', 'corpus name (engram data list)')
    .option('--path <file>', 'text file or folder for corpus local')
    .option('--cache-dir <dir>', 'corpus cache')
    .option('--force', 'download again even when cached')
    .action(async (corpus: string, flags: { path?: string; cacheDir?: string; force?: boolean }) => {
      await dataDownloadCommand({ corpus, ...flags }, io);
    });
  data
    .command('verify')
    .description('check a cached corpus without downloading: sizes, every split readable, SHA-256 per split')
    .argument('<corpus>', 'corpus name')
    .option('--path <file>', 'text file or folder for corpus local')
    .option('--cache-dir <dir>', 'corpus cache')
    .action(async (corpus: string, flags: { path?: string; cacheDir?: string }) => {
      await dataVerifyCommand({ corpus, ...flags }, io);
    });
  data
    .command('prepare')
    .description('tokenize a corpus once and cache the token streams (train and eval then start faster)')
    .argument('<corpus>', 'corpus name')
    .option('--tokenizer <kind>', 'byte, character, word, subword (BPE trained on train) or a tokenizer.json path (default: the corpus usual one)')
    .option('--vocab-size <n>', 'vocabulary size of a subword tokenizer (default 8192)', integer('--vocab-size', 256))
    .option('--path <file>', 'text file or folder for corpus local')
    .option('--cache-dir <dir>', 'corpus cache')
    .option('--force', 'download the corpus again')
    .action(async (corpus: string, flags: { tokenizer?: string; vocabSize?: number; path?: string; cacheDir?: string; force?: boolean }) => {
      await dataPrepareCommand({ corpus, ...flags }, io);
    });

  addConfigOptions(
    program
      .command('config')
      .description('print the configuration that a preset, a file and flags resolve to (validated)')
      .addOption(new Option('-f, --format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
      .option('--schema', 'print the JSON Schema of a configuration file instead (for editor completion)')
      .addOption(backendOption()),
  ).action((flags: ConfigFlags & { format: string; schema?: boolean }) => {
    if (flags.schema === true) configSchemaCommand(io);
    else configCommand({ ...configSourcesOf(flags), format: flags.format }, io);
  });

  program
    .command('presets')
    .description('list the presets (tiny, small, paper) of every model kind with their shapes and temporal ranges')
    .action(() => presetsCommand(io));

  program.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  engram train --kind expire-span --preset tiny --out runs/es',
      '  engram eval runs/es',
      '  engram generate runs/es --prompt "The " --max-new-tokens 200',
      '  engram inspect runs/es --text notes.txt --out memory.svg',
      '  engram plot runs/es runs/txl --out curves.png',
      '  engram data download enwik8',
      '  engram config --kind compressive --set memory.compressor=mean-pool',
    ].join('\n'),
  );
  // Every subcommand (and sub-subcommand) reports errors the same way.
  const configure = (command: Command): void => {
    for (const child of command.commands) {
      child.exitOverride().configureOutput(program.configureOutput());
      configure(child);
    }
  };
  configure(program);
  return program;
}

/**
 * The directory relative paths are resolved against: the caller's own directory when the command runs
 * through this package's `start` script (`pnpm engram ...` from the repository root runs it inside
 * packages/cli, and pnpm passes the caller's directory as INIT_CWD), else the working directory.
 */
export function userDirectoryOf(environment: NodeJS.ProcessEnv, cwd: string): string {
  const throughOwnScript = environment.npm_lifecycle_event === 'start' && environment.npm_package_name === '@engram/cli';
  return throughOwnScript && environment.INIT_CWD ? environment.INIT_CWD : cwd;
}

/**
 * Runs the command line `argv` (without `node` and the script path) and returns the exit code:
 * 0 on success, non-zero with one line on stderr on failure.
 */
export async function runCli(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  const program = createProgram(io);
  // `pnpm start -- train ...` passes the separator through: ignore a leading `--`.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit with code 0; anything else commander rejects is a bad flag or argument (exit 2),
      // and commander has already printed its one-line error.
      return error.exitCode === 0 ? 0 : 2;
    }
    writeLine(io.stderr, `engram: ${describeError(error)}`);
    // ENGRAM_DEBUG=1 adds the stack trace (and causes) after the one-line message.
    if (process.env.ENGRAM_DEBUG && error instanceof Error) writeLine(io.stderr, error.stack ?? '');
    return exitCodeOf(error);
  }
}

