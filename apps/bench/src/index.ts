// @engram/bench: the benchmark suites as a library (runBench, the result schema, the report writer).
export { runBench, suites } from './runner.js';
export type { RunBenchOptions, SuiteContext, SuiteOutput, SuiteRunner } from './runner.js';
export { runBenchCli, createBenchProgram, defaultOutputDirectory } from './cli.js';
export * from './results.js';
export { writeSuiteResult, writeIndex, suiteMarkdown, markdownTable, terminalTable, resultTable, suiteDescriptions } from './report.js';
export { renderChartSvg, niceTicks } from './charts.js';
export type { ChartOptions, ChartSeries } from './charts.js';
