// Command line of the bench app: `engram-bench [--suite NAME] [--full | --tiny-test] [--out DIR] [--backend NAME]`.
import { isAbsolute, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { backendChoices, type BackendChoice } from '@engram/cli';
import { describeError, exitCodeOf } from '@engram/cli/internal';
import { benchModes, suiteNames, type BenchMode, type SuiteName } from './results.js';
import { runBench } from './runner.js';

interface BenchFlags {
  suite?: SuiteName[];
  full?: boolean;
  tinyTest?: boolean;
  out: string;
  backend: BackendChoice;
  quiet?: boolean;
  cache?: string;
}

/**
 * Where results go by default: `bench-results` in the directory the user started from. `pnpm bench`
 * runs the app inside apps/bench, so prefer pnpm's INIT_CWD (the directory pnpm was called from).
 */
export function defaultOutputDirectory(environment: NodeJS.ProcessEnv = process.env): string {
  return resolve(environment.INIT_CWD ?? process.cwd(), 'bench-results');
}

function collectSuite(value: string, previous: SuiteName[] = []): SuiteName[] {
  if (!(suiteNames as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`Allowed choices are ${suiteNames.join(', ')}.`);
  }
  return [...previous, value as SuiteName];
}

/** Builds the bench command. */
export function createBenchProgram(io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Command {
  return new Command('engram-bench')
    .description(
      'Benchmarks of the Engram memory methods at CPU scale: language modelling (lm), long-range recall (long-range), ' +
        'compression functions (compressors) and throughput (speed). Each suite writes <suite>.json, <suite>.md and ' +
        'SVG charts to the results directory and prints a table. Without --suite every suite runs; the default (quick) ' +
        'run takes under 15 minutes on 2 cores.',
    )
    .addOption(
      new Option('--suite <name>', `run only this suite (repeatable): ${suiteNames.join(', ')}`).argParser(collectSuite),
    )
    .addOption(new Option('--full', 'longer runs (more steps, bigger evaluation); tens of minutes per suite').conflicts('tinyTest'))
    .addOption(new Option('--tiny-test', 'a seconds-long smoke run with tiny models (for tests)').conflicts('full'))
    .option('-o, --out <dir>', 'results directory (default: ./bench-results where the command was started)')
    .option(
      '--cache <dir>',
      'keep every finished training run in <dir> and reuse it when the same run comes again, so a long --full run can be stopped and resumed (delete <dir> after changing the code)',
    )
    .addOption(
      new Option('-b, --backend <name>', 'tensor backend (auto tries tensorflow-gpu, tensorflow, wasm, cpu)')
        .choices(backendChoices)
        .default('auto'),
    )
    .option('-q, --quiet', 'print only the tables')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`engram-bench: ${text.trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`),
    })
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  pnpm bench                       all suites, quick (the README numbers)',
        '  pnpm bench --suite lm --full     the language-modelling suite, longer',
        '  pnpm bench --full --cache runs   resumable: stop with Ctrl-C, run again to go on',
        '  engram-bench --suite speed --out /tmp/results',
      ].join('\n'),
    )
    .exitOverride();
}

/** Runs the bench command line and returns the exit code (0 on success, one line on stderr on failure). */
export async function runBenchCli(
  argv: readonly string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process,
): Promise<number> {
  const program = createBenchProgram(io);
  // `pnpm bench -- --suite lm` passes the separator through: ignore a leading `--`.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  try {
    program.parse(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : Math.max(1, error.exitCode);
    throw error;
  }
  const flags = program.opts<BenchFlags>();
  const mode: BenchMode = flags.full === true ? 'full' : flags.tinyTest === true ? 'tiny-test' : 'quick';
  const outDirectory =
    flags.out === undefined
      ? defaultOutputDirectory()
      : isAbsolute(flags.out)
        ? flags.out
        : resolve(process.env.INIT_CWD ?? process.cwd(), flags.out);
  try {
    await runBench({
      suites: flags.suite === undefined ? [...suiteNames] : [...new Set(flags.suite)],
      mode,
      outDirectory,
      backend: flags.backend,
      ...(flags.cache === undefined ? {} : { cacheDirectory: isAbsolute(flags.cache) ? flags.cache : resolve(process.env.INIT_CWD ?? process.cwd(), flags.cache) }),
      stdout: io.stdout,
      log: flags.quiet === true ? () => undefined : (line: string) => io.stderr.write(`${line}\n`),
    });
    return 0;
  } catch (error) {
    io.stderr.write(`engram-bench: ${describeError(error)}\n`);
    return exitCodeOf(error);
  }
}

export { benchModes };
