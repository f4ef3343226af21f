// @engram/bench: the benchmark suites as a library (runBench, the result schema, the report writer).
export { runBench, suites } from './runner.js';
export type { RunBenchOptions, SuiteContext, SuiteOutput, SuiteRunner } from './runner.js';
export { runBenchCli, createBenchProgram, defaultOutputDirectory } from './cli.js';
export * from './results.js';
export { writeSuiteResult, writeIndex, suiteMarkdown, markdownTable, terminalTable, resultTable, suiteDescriptions, renderChart } from './report.js';
export { renderChartSvg, barChart, niceTicks, spreadLabels } from './charts.js';
export type { ChartOptions, ChartSeries, BarChartOptions, BarSeries, ReferenceLine } from './charts.js';
export {
  summarize,
  compareSamples,
  lowerClaim,
  notWorseClaim,
  standardErrorOfDifference,
  decisiveStandardErrors,
  describeComparison,
  formatSummary,
} from './stats.js';
export type { Summary, Comparison, Outcome } from './stats.js';
