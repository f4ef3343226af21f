// Tests of the report writer: schema validation, files written, tables and the index.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { barChart, niceTicks, renderChartSvg, spreadLabels } from './charts.js';
import { markdownTable, renderChart, terminalTable, writeSuiteResult } from './report.js';
import { describeMachine, suiteResultSchema, type SuiteResult } from './results.js';

function sampleResult(): SuiteResult {
  return {
    suite: 'speed',
    mode: 'tiny-test',
    backend: { name: 'wasm' },
    machine: describeMachine(),
    config: { steps: 2 },
    models: [
      { name: 'Transformer-XL', kind: 'txl', parameters: 1234, msPerBatch: 12.5, trainTokensPerSecond: 4000 },
      { name: 'Expire-Span', kind: 'expire-span', parameters: 1300, msPerBatch: 10, meanMemorySlots: 32.25 },
    ],
    charts: [
      {
        id: 'memory',
        title: 'Memory <slots>',
        xLabel: 'step',
        yLabel: 'slots',
        mode: 'line',
        series: [{ name: 'Expire-Span', points: [[0, 1], [1, 2]] }],
      },
    ],
    claims: [{ claim: 'X is faster.', source: 'A paper', outcome: 'reproduced', evidence: '10 < 12.5 ms.' }],
    notes: ['tiny'],
    tables: [{ title: 'Top kernels', headers: ['kernel', 'ms'], rows: [['BatchMatMul', '12.0']] }],
    startedAt: new Date(0).toISOString(),
    durationSeconds: 1,
  };
}

describe('report', () => {
  it('writes json, markdown, charts and the index', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'engram-bench-report-'));
    const written = await writeSuiteResult(directory, sampleResult());
    expect(readdirSync(directory).sort()).toEqual(['README.md', 'speed-memory.svg', 'speed.json', 'speed.md']);
    const json = suiteResultSchema.parse(JSON.parse(readFileSync(written.json, 'utf8')));
    expect(json.models[1]?.meanMemorySlots).toBe(32.25);
    const markdown = readFileSync(written.markdown, 'utf8');
    expect(markdown).toContain('![Memory <slots>](speed-memory.svg)');
    expect(markdown).toContain('**reproduced**: X is faster. 10 < 12.5 ms. *Source: A paper.*');
    expect(markdown).toContain('## Top kernels\n\n| kernel | ms |\n| --- | ---: |\n| BatchMatMul | 12.0 |');
    const index = readFileSync(written.index, 'utf8');
    expect(index).toContain('[`speed`](speed.md)');
    // The claims come first, with their verdicts and counts.
    expect(index.indexOf('## Every claim and its verdict (1 reproduced, 0 not reproduced, 0 inconclusive)')).toBeLessThan(index.indexOf('## [`speed`]'));
    expect(index).toContain('| **reproduced** | X is faster. | [`speed`](speed.md) (tiny-test) | A paper |');
    expect(readFileSync(written.charts[0] ?? '', 'utf8')).toContain('Memory &lt;slots&gt;');
  });

  it('refuses results that break the schema', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'engram-bench-report-'));
    const bad = { ...sampleResult(), models: [] };
    await expect(writeSuiteResult(directory, bad)).rejects.toThrow();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('tables show only the columns some model has, "-" for the gaps', () => {
    const { models } = sampleResult();
    const markdown = markdownTable(models);
    expect(markdown.split('\n')[0]).toBe('| model | kind | parameters | ms/batch | train tok/s | mean memory |');
    expect(markdown).toContain('| Expire-Span | expire-span | 1,300 | 10.0 | - | 32.3 |');
    expect(terminalTable(models).split('\n')).toHaveLength(4);
    const seeded = markdownTable([{ name: 'A', kind: 'txl', parameters: 1, bpc: 2, seeds: 2, perSeed: { bpc: [1.9, 2.1] } }]);
    expect(seeded).toContain('| A | txl | 1 | 2 | 2.000 ± 0.141 |');
  });
});

describe('charts', () => {
  it('ticks cover the data with round steps', () => {
    expect(niceTicks(0.13, 0.97)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(5, 5)).toEqual([4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]);
  });

  it('draws one path per line series and a dot per scatter point', () => {
    const line = renderChartSvg({
      title: 't', xLabel: 'x', yLabel: 'y', mode: 'line',
      series: [{ name: 'a', points: [[0, 1], [1, 2], [2, 1.5]] }, { name: 'b', points: [] }],
    });
    expect(line.match(/<path /g)).toHaveLength(1);
    expect(line).toContain('b (no data)');
    const scatter = renderChartSvg({
      title: 't', xLabel: 'x', yLabel: 'y', mode: 'scatter',
      series: [{ name: 'a', points: [[0, 1], [1, Number.NaN]] }],
    });
    // One dot for the finite point, one in the legend.
    expect(scatter.match(/<circle /g)).toHaveLength(2);
  });
});

describe('chart details', () => {
  const series = (name: string, count: number, offset: number) => ({
    name,
    points: Array.from({ length: count }, (_, index) => [index, offset + index] as [number, number]),
  });

  it('short line series get markers, long ones do not; each series has its own dash pattern and an end label', () => {
    const svg = renderChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [series('short', 5, 0), series('long', 50, 1)] });
    // 5 markers on the short series plus one legend marker per series (circle for the first, square for the second).
    expect(svg.match(/<circle /g)).toHaveLength(5 + 1);
    expect(svg.match(/<rect x=/g)?.length).toBe(1 + 1); // the frame plus the legend square
    expect(svg).toContain('stroke-dasharray="7 4"');
    expect(svg.match(/class="end-label"/g)).toHaveLength(2);
  });

  it('draws error bars, reference lines and the caption', () => {
    const svg = renderChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'a', points: [[0, 0.5], [1, 0.6]], errors: [0.1, 0] }],
      referenceLines: [{ value: 0.25, label: 'chance 25%' }],
      caption: 'backend wasm; 3 seeds',
    });
    expect(svg.match(/class="error-bar"/g)).toHaveLength(1);
    expect(svg).toContain('chance 25%');
    expect(svg).toContain('class="reference"');
    expect(svg).toContain('backend wasm; 3 seeds');
  });

  it('spreads end labels at least the gap apart, inside the bounds', () => {
    const placed = spreadLabels([100, 101, 102, 300], 10, 0, 400);
    expect(placed).toEqual([100, 110, 120, 300]);
    expect(spreadLabels([395, 396], 10, 0, 400)).toEqual([390, 400]);
  });

  it('barChart: one bar and one value label per finite value, n/a for the others, error bars, the unit in the axis title', () => {
    const svg = barChart({
      title: 'Throughput',
      categories: ['tiny', 'small'],
      series: [
        { name: 'A', values: [1000, 200], errors: [50, null] },
        { name: 'B', values: [800, null] },
      ],
      valueLabel: 'training tokens per second (tokens/s)',
      formatValue: (value) => value.toFixed(0),
    });
    expect(svg.match(/class="bar"/g)).toHaveLength(3);
    expect(svg.match(/class="value-label"/g)).toHaveLength(3);
    expect(svg).toContain('>1000</text>');
    expect(svg).toContain('>n/a</text>');
    expect(svg.match(/class="error-bar"/g)).toHaveLength(1);
    expect(svg).toContain('training tokens per second (tokens/s)');
    const horizontal = barChart({ title: 'h', categories: ['a'], series: [{ name: 'A', values: [2] }], valueLabel: 'bpc', orientation: 'horizontal' });
    // Horizontal bars grow along x: the bar is wider than it is tall.
    const [, width, height] = /class="bar" x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="([\d.]+)"/.exec(horizontal) ?? [];
    expect(Number(width)).toBeGreaterThan(Number(height));
  });

  it('renderChart draws a bar chart of a result file from category indices', () => {
    const svg = renderChart(
      {
        id: 'bars',
        title: 'b',
        xLabel: 'task',
        yLabel: 'accuracy (share)',
        mode: 'bar',
        categories: ['copy', 'topics'],
        series: [{ name: 'A', points: [[1, 0.5]], errors: [0.1] }],
      },
      'wasm',
    );
    expect(svg.match(/class="bar"/g)).toHaveLength(1);
    expect(svg).toContain('>n/a</text>');
    expect(svg).toContain('backend wasm');
  });
});
