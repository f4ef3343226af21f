// Tests of the report writer: schema validation, files written, tables and the index.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { niceTicks, renderChartSvg } from './charts.js';
import { markdownTable, terminalTable, writeSuiteResult } from './report.js';
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
    expect(readFileSync(written.index, 'utf8')).toContain('[`speed`](speed.md)');
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
    expect(scatter.match(/<circle /g)).toHaveLength(1);
  });
});
