// Runs bench suites: initialises the backend once, runs each suite, validates and writes its results, prints its table.
import { loadavg } from 'node:os';
import { initBackend, type BackendInfo } from '@engram/kernels';
import type { BackendChoice } from '@engram/cli';
import { terminalTable, writeSuiteResult, type WrittenFiles } from './report.js';
import { openRunCache, type RunCache } from './run-cache.js';
import { describeMachine, type BenchMode, type Chart, type Claim, type ModelResult, type SuiteName, type SuiteResult, type Table } from './results.js';
import { runCompressorsSuite } from './suites/compressors.js';
import { runLanguageModellingSuite } from './suites/lm.js';
import { runLongRangeSuite } from './suites/long-range.js';
import { runSpeedSuite } from './suites/speed.js';

/** What a suite gets. */
export interface SuiteContext {
  mode: BenchMode;
  backend: BackendInfo;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** Finished training runs to reuse and store (`--cache`), scoped to this suite and mode. */
  runCache?: RunCache;
}

/** What a suite returns (the runner adds suite, mode, backend, machine and timing). */
export interface SuiteOutput {
  config: Record<string, unknown>;
  models: ModelResult[];
  charts: Chart[];
  claims: Claim[];
  notes: string[];
  /** Tables beyond the models table (optional). */
  tables?: SuiteTable[];
}

/** A table a suite adds to its report. */
export type SuiteTable = Table;

export type SuiteRunner = (context: SuiteContext) => Promise<SuiteOutput>;

/** Every suite, in the order a full bench runs them. */
export const suites: Record<SuiteName, SuiteRunner> = {
  lm: runLanguageModellingSuite,
  'long-range': runLongRangeSuite,
  compressors: runCompressorsSuite,
  speed: runSpeedSuite,
};

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  suites: SuiteName[];
  mode: BenchMode;
  outDirectory: string;
  backend: BackendChoice;
  /** `--cache`: keep finished training runs here and reuse them. */
  cacheDirectory?: string;
  /** Where tables go. */
  stdout: NodeJS.WritableStream;
  log: (line: string) => void;
}

/** Runs the suites in order; returns each suite's result and the files written. */
export async function runBench(options: RunBenchOptions): Promise<{ result: SuiteResult; files: WrittenFiles }[]> {
  const backend = await initBackend({ backend: options.backend });
  const machine = describeMachine();
  options.log(
    `engram-bench (${options.mode}): backend ${backend.name}${backend.simd === null ? '' : backend.simd ? ' SIMD' : ' no SIMD'}` +
      `${backend.kernelThreads === null ? '' : `, Engram kernels on ${backend.kernelThreads} thread(s)`}` +
      `${backend.kernelInstructions === 'relaxed-simd' ? ' with FMA' : ''}, ` +
      `${machine.cpus} CPUs, Node ${machine.nodeVersion}; results in ${options.outDirectory}`,
  );
  const done: { result: SuiteResult; files: WrittenFiles }[] = [];
  const benchStart = performance.now();
  for (const suite of options.suites) {
    const startedAt = new Date();
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    options.log(`== suite ${suite}`);
    const runCache =
      options.cacheDirectory === undefined ? undefined : await openRunCache(options.cacheDirectory, { suite, mode: options.mode }, options.log);
    const output = await suites[suite]({ mode: options.mode, backend, log: options.log, ...(runCache ? { runCache } : {}) });
    if (runCache) {
      const { reused, stored } = runCache.counts;
      output.notes.push(
        `Run cache ${runCache.directory}: ${reused} training run(s) reused from earlier invocations (their times were measured then), ${stored} trained now.`,
      );
    }
    const result: SuiteResult = {
      suite,
      mode: options.mode,
      backend: { ...backend },
      machine,
      config: output.config,
      models: output.models,
      charts: output.charts,
      claims: output.claims,
      notes: output.notes,
      tables: output.tables ?? [],
      startedAt: startedAt.toISOString(),
      durationSeconds: (performance.now() - start) / 1000,
    };
    const files = await writeSuiteResult(options.outDirectory, result);
    // CPU time of this process and the load average: wall time alone misleads on a shared machine.
    const cpu = process.cpuUsage(cpuStart);
    const load = loadavg().map((value) => value.toFixed(1)).join(' / ');
    options.stdout.write(
      `\n${suite} (${options.mode}, ${result.durationSeconds.toFixed(0)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(0)} s CPU, load average ${load})\n` +
        `${terminalTable(result.models)}\n`,
    );
    for (const claim of result.claims) options.stdout.write(`  ${claim.outcome}: ${claim.claim}\n`);
    options.log(`   wrote ${files.json}, ${files.markdown}, ${files.charts.length} charts`);
    done.push({ result, files });
  }
  options.log(`engram-bench done in ${((performance.now() - benchStart) / 1000).toFixed(0)} s`);
  return done;
}
