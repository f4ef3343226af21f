// Writes a suite's results: bench-results/<suite>.json, <suite>.md, its SVG charts, the README.md index, and a terminal table.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@engram/core/node';
import { barChart, renderChartSvg } from './charts.js';
import { summarize } from './stats.js';
import { suiteNames, suiteResultSchema, type Chart, type ModelResult, type SuiteName, type SuiteResult } from './results.js';

/** What each suite measures, for the reports. */
export const suiteDescriptions: Record<SuiteName, string> = {
  lm:
    'Character-level language modelling on the book bundled with @engram/datasets: Transformer-XL, Adaptive-Span, ' +
    'the Compressive Transformer (conv compressor, attention-reconstruction loss) and Expire-Span, each reading at most the same ' +
    'number of memory slots per query, several seeds each; validation and test bpc, memory, time per batch.',
  'long-range':
    'One task per claimed mechanism, at matched memory budgets: copy across a delay longer than Transformer-XL can see ' +
    "(Expire-Span: remember a few tokens with a small memory, against a Transformer-XL given Expire-Span's measured memory), " +
    'topic recall (the Compressive Transformer: a coarse summary of a block beyond the regular memory) and variable tracking. ' +
    'Accuracy on held-out episodes against chance, memory kept, and the spans Expire-Span learned per token class.',
  compressors:
    'The Compressive Transformer with each compression function (max-pool, mean-pool, conv, dilated-conv, most-used) ' +
    'and each way of training it (attention-reconstruction, auto-encoding, BPTT), like the ablation table of Rae et al. 2019.',
  speed:
    'Training-step cost of each model at two fixed shapes (tiny and small), vocabulary 256: ms per step, tokens per second, peak tensor memory, achieved GFLOP/s and the top kernels, with Engram\'s wasm kernels and the stock tfjs kernels interleaved in one run.',
};

interface Column {
  key: string;
  header: string;
  value: (model: ModelResult) => number | string | undefined;
  format: (value: number | string, model: ModelResult) => string;
}

const mebibyte = 1024 * 1024;

/** `value` formatted, with ` ± s` (sample standard deviation over the row's seeds) when the row has several seeds of `field`. */
function withSpread(model: ModelResult, field: string, format: (value: number) => string): (value: number | string) => string {
  return (value) => {
    const seeds = model.perSeed?.[field];
    if (seeds === undefined || seeds.length < 2) return format(Number(value));
    return `${format(Number(value))} ± ${format(summarize(seeds).stdDev)}`;
  };
}
/** A numeric suite-specific field of `extra` (e.g. the speed suite's achieved GFLOP/s). */
function extraNumber(model: ModelResult, field: string): number | undefined {
  const value = model.extra?.[field];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

const columns: Column[] = [
  { key: 'name', header: 'model', value: (model) => model.name, format: String },
  { key: 'kind', header: 'kind', value: (model) => model.kind, format: String },
  { key: 'shape', header: 'shape', value: (model) => (typeof model.extra?.shape === 'string' ? model.extra.shape : undefined), format: String },
  { key: 'parameters', header: 'parameters', value: (model) => model.parameters, format: (v) => Number(v).toLocaleString('en-US') },
  { key: 'seeds', header: 'seeds', value: (model) => model.seeds, format: String },
  { key: 'bpc', header: 'bpc (valid)', value: (model) => model.bpc, format: (v, m) => withSpread(m, 'bpc', (x) => x.toFixed(3))(v) },
  { key: 'testBpc', header: 'bpc (test)', value: (model) => model.testBpc, format: (v, m) => withSpread(m, 'testBpc', (x) => x.toFixed(3))(v) },
  {
    key: 'accuracy',
    header: 'accuracy',
    value: (model) => model.accuracy,
    format: (v, m) => withSpread(m, 'accuracy', (x) => `${(x * 100).toFixed(1)}%`)(v),
  },
  {
    key: 'peakBytes',
    header: 'peak tensors (MiB)',
    value: (model) => model.peakBytes,
    format: (v, m) => withSpread(m, 'peakBytes', (x) => (x / mebibyte).toFixed(1))(v),
  },
  { key: 'msPerBatch', header: 'ms/batch', value: (model) => model.msPerBatch, format: (v, m) => withSpread(m, 'msPerBatch', (x) => x.toFixed(1))(v) },
  { key: 'gflops', header: 'GFLOP/s', value: (model) => extraNumber(model, 'gflops'), format: (v) => Number(v).toFixed(1) },
  { key: 'peakFraction', header: 'of matmul peak', value: (model) => extraNumber(model, 'peakFraction'), format: (v) => `${(Number(v) * 100).toFixed(0)}%` },
  { key: 'trainTokensPerSecond', header: 'train tok/s', value: (model) => model.trainTokensPerSecond, format: (v) => Number(v).toFixed(0) },
  { key: 'evalTokensPerSecond', header: 'eval tok/s', value: (model) => model.evalTokensPerSecond, format: (v) => Number(v).toFixed(0) },
  { key: 'temporalRange', header: 'temporal range', value: (model) => model.temporalRange, format: (v) => Number(v).toFixed(0) },
  { key: 'meanMemorySlots', header: 'mean memory', value: (model) => model.meanMemorySlots, format: (v) => Number(v).toFixed(1) },
  { key: 'finalMemorySlots', header: 'final memory', value: (model) => model.finalMemorySlots, format: (v) => Number(v).toFixed(1) },
  {
    key: 'meanMemorySlotsPerLayer',
    header: 'memory per layer',
    value: (model) => model.meanMemorySlotsPerLayer?.map((slots) => slots.toFixed(0)).join(' / '),
    format: String,
  },
];

/** The rows of a suite's table: only columns some model has. */
export function resultTable(models: readonly ModelResult[]): { headers: string[]; rows: string[][] } {
  const used = columns.filter((column) => models.some((model) => column.value(model) !== undefined));
  return {
    headers: used.map((column) => column.header),
    rows: models.map((model) =>
      used.map((column) => {
        const value = column.value(model);
        return value === undefined ? '-' : column.format(value, model);
      }),
    ),
  };
}

/** A Markdown table. */
export function markdownTable(models: readonly ModelResult[]): string {
  const { headers, rows } = resultTable(models);
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(escape).join(' | ')} |`,
    `| ${headers.map((_, index) => (index < 2 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

/** A plain-text table for the terminal. */
export function terminalTable(models: readonly ModelResult[]): string {
  const { headers, rows } = resultTable(models);
  const widths = headers.map((header, index) => Math.max(header.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, index) => (index < 2 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0))).join('  ');
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** Draws a chart of a result file: bar charts through {@link barChart}, the others through {@link renderChartSvg}. */
export function renderChart(chart: Chart, backendName?: string): string {
  const caption = [backendName === undefined ? undefined : `backend ${backendName}`, chart.caption].filter((part) => part !== undefined).join('; ');
  const common = { title: chart.title, ...(caption === '' ? {} : { caption }), ...(chart.referenceLines === undefined ? {} : { referenceLines: chart.referenceLines }) };
  if (chart.mode === 'bar') {
    const categories = chart.categories ?? [];
    return barChart({
      ...common,
      categories,
      valueLabel: chart.yLabel,
      categoryLabel: chart.xLabel,
      orientation: chart.orientation ?? 'vertical',
      series: chart.series.map((series) => {
        const values = categories.map((): number | null => null);
        const errors = categories.map((): number | null => null);
        series.points.forEach(([index, value], point) => {
          if (index >= 0 && index < categories.length && Number.isInteger(index)) {
            values[index] = value;
            errors[index] = series.errors?.[point] ?? null;
          }
        });
        return { name: series.name, values, errors };
      }),
    });
  }
  return renderChartSvg({ ...common, xLabel: chart.xLabel, yLabel: chart.yLabel, mode: chart.mode, series: chart.series });
}

function chartFile(suite: string, chartId: string): string {
  return `${suite}-${chartId}.svg`;
}

/** ` (Engram kernels on N threads[, relaxed SIMD])` for a wasm run with the fast kernels, else nothing. */
function kernelsNote(backend: SuiteResult['backend']): string {
  const threads = backend['kernelThreads'];
  const fused = backend['kernelInstructions'] === 'relaxed-simd' ? ', GEMM with relaxed-SIMD FMA' : '';
  return typeof threads === 'number' ? ` (Engram kernels on ${threads} thread${threads === 1 ? '' : 's'}${fused})` : '';
}

/** The Markdown report of one suite. */
export function suiteMarkdown(result: SuiteResult): string {
  const lines: string[] = [];
  lines.push(`# Bench suite \`${result.suite}\` (${result.mode})`, '', suiteDescriptions[result.suite], '');
  lines.push(
    `Run ${result.startedAt}, ${result.durationSeconds.toFixed(0)} s, backend \`${result.backend.name}\`${kernelsNote(result.backend)}, ` +
      `${result.machine.cpus} CPU cores (${result.machine.cpuModel}), Node ${result.machine.nodeVersion}, ` +
      `${result.machine.platform}/${result.machine.arch}.`,
    '',
    markdownTable(result.models),
    '',
  );
  lines.push('## Did the papers\' claims reproduce at this scale?', '');
  if (result.claims.length === 0) {
    lines.push('This suite checks no claim.', '');
  } else {
    for (const claim of result.claims) {
      lines.push(`- **${claim.outcome}**: ${claim.claim} ${claim.evidence} *Source: ${claim.source}.*`);
    }
    lines.push(
      '',
      'These verdicts are computed from the numbers above by the bench code, not written by hand. ' +
        'The runs are tiny next to the papers (minutes on a CPU, not days on accelerators), so a claim that does not ' +
        'reproduce here may still hold at scale.',
      '',
    );
  }
  if (result.notes.length > 0) {
    lines.push('## Notes', '', ...result.notes.map((note) => `- ${note}`), '');
  }
  for (const table of result.tables) {
    const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
    lines.push(
      `## ${table.title}`,
      '',
      `| ${table.headers.map(escape).join(' | ')} |`,
      `| ${table.headers.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
      ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
      '',
    );
  }
  if (result.charts.length > 0) {
    lines.push('## Charts', '');
    for (const chart of result.charts) lines.push(`![${chart.title}](${chartFile(result.suite, chart.id)})`, '');
  }
  lines.push('## Configuration', '', '```json', JSON.stringify(result.config, null, 2), '```', '');
  return lines.join('\n');
}

/** Files written for one suite. */
export interface WrittenFiles {
  json: string;
  markdown: string;
  charts: string[];
  index: string;
}

/**
 * Validates `result` against the schema and writes `<suite>.json`, `<suite>.md`, one SVG per chart and the
 * index `README.md` (rebuilt from every `<suite>.json` in the directory).
 */
export async function writeSuiteResult(directory: string, result: SuiteResult): Promise<WrittenFiles> {
  const checked = suiteResultSchema.parse(result);
  await mkdir(directory, { recursive: true });
  const json = join(directory, `${checked.suite}.json`);
  const markdown = join(directory, `${checked.suite}.md`);
  await writeFileAtomic(json, `${JSON.stringify(checked, null, 2)}\n`);
  const charts: string[] = [];
  for (const chart of checked.charts) {
    const file = join(directory, chartFile(checked.suite, chart.id));
    await writeFileAtomic(file, renderChart(chart, checked.backend.name));
    charts.push(file);
  }
  await writeFileAtomic(markdown, suiteMarkdown(checked));
  const index = await writeIndex(directory);
  return { json, markdown, charts, index };
}

/** Rebuilds `README.md` in the results directory from the suite JSON files found there. */
export async function writeIndex(directory: string): Promise<string> {
  const present = new Set(await readdir(directory));
  const results: SuiteResult[] = [];
  for (const suite of suiteNames) {
    if (!present.has(`${suite}.json`)) continue;
    const parsed = suiteResultSchema.safeParse(JSON.parse(await readFile(join(directory, `${suite}.json`), 'utf8')));
    if (parsed.success) results.push(parsed.data);
  }
  const lines = ['# Engram bench results', ''];
  if (results.length === 0) lines.push('No suite results yet.', '');
  const claims = results.flatMap((result) => result.claims.map((claim) => ({ claim, result })));
  if (claims.length > 0) {
    const counts = (['reproduced', 'not reproduced', 'inconclusive'] as const).map(
      (outcome) => `${claims.filter(({ claim }) => claim.outcome === outcome).length} ${outcome}`,
    );
    lines.push(
      `## Every claim and its verdict (${counts.join(', ')})`,
      '',
      '| verdict | claim | suite | source |',
      '|---|---|---|---|',
      ...claims.map(
        ({ claim, result }) =>
          `| **${claim.outcome}** | ${claim.claim.replace(/\|/g, '\\|')} | [\`${result.suite}\`](${result.suite}.md) (${result.mode}) | ${claim.source} |`,
      ),
      '',
    );
  }
  for (const result of results) {
    lines.push(
      `## [\`${result.suite}\`](${result.suite}.md) (${result.mode}, backend \`${result.backend.name}\`, ${result.startedAt})`,
      '',
      markdownTable(result.models),
      '',
    );
    for (const claim of result.claims) lines.push(`- **${claim.outcome}**: ${claim.claim}`);
    if (result.claims.length > 0) lines.push('');
  }
  const file = join(directory, 'README.md');
  await writeFileAtomic(file, lines.join('\n'));
  return file;
}
