// Smoke runs of every suite in tiny-test mode: the JSON follows the schema, every required field is there, the files are written.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchCli, defaultOutputDirectory } from './cli.js';
import { runBench } from './runner.js';
import { suiteNames, suiteResultSchema, type SuiteName } from './results.js';
import { chanceBound, longRangeClaims } from './suites/long-range.js';
import { lmClaims } from './suites/lm.js';
import { compressorClaims } from './suites/compressors.js';
import { unigramBitsPerToken } from './suites/shared.js';

const sink = { write: () => true } as unknown as NodeJS.WritableStream;

/** Fields each suite's models must carry (the list, where they apply). */
const required: Record<SuiteName, string[]> = {
  lm: ['bpc', 'peakBytes', 'msPerBatch', 'trainTokensPerSecond', 'evalTokensPerSecond', 'temporalRange', 'meanMemorySlots'],
  'long-range': ['accuracy', 'temporalRange', 'meanMemorySlots'],
  compressors: ['bpc', 'msPerBatch', 'trainTokensPerSecond'],
  speed: ['msPerBatch', 'trainTokensPerSecond', 'peakBytes', 'meanMemorySlots'],
};

describe('every suite in tiny-test mode', () => {
  it.each(suiteNames)('%s writes JSON, Markdown, charts and the index', async (suite) => {
    const directory = mkdtempSync(join(tmpdir(), `engram-bench-${suite}-`));
    const [done] = await runBench({ suites: [suite], mode: 'tiny-test', outDirectory: directory, backend: 'wasm', stdout: sink, log: () => {} });
    const json = JSON.parse(readFileSync(join(directory, `${suite}.json`), 'utf8')) as unknown;
    const result = suiteResultSchema.parse(json);
    expect(result.suite).toBe(suite);
    expect(result.backend.name).toBe('wasm');
    expect(result.machine.cpus).toBeGreaterThan(0);
    expect(result.machine.nodeVersion).toBe(process.version);
    expect(Object.keys(result.config).length).toBeGreaterThan(0);
    expect(result.models.length).toBeGreaterThanOrEqual(4);
    for (const model of result.models) {
      expect(model.parameters).toBeGreaterThan(0);
      for (const field of required[suite]) expect(model, `${model.name}.${field}`).toHaveProperty(field);
    }
    const files = readdirSync(directory).sort();
    expect(files).toEqual(
      [`${suite}.json`, `${suite}.md`, 'README.md', ...result.charts.map((chart) => `${suite}-${chart.id}.svg`)].sort(),
    );
    const markdown = readFileSync(join(directory, `${suite}.md`), 'utf8');
    expect(markdown).toContain("## Did the papers' claims reproduce at this scale?");
    for (const claim of result.claims) expect(markdown).toContain(claim.claim);
    expect(done?.files.index).toBe(join(directory, 'README.md'));
  });
});

describe('claims follow the numbers', () => {
  const row = (name: string, kind: string, values: Record<string, number>) => ({ name, kind, parameters: 1, ...values });

  it('lm: lower bpc reproduces, higher does not, a small gap is a tie', () => {
    const rows = (compressiveBpc: number) => [
      row('Transformer-XL', 'txl', { bpc: 3, temporalRange: 128 }),
      row('Compressive', 'compressive', { bpc: compressiveBpc, temporalRange: 320, peakBytes: 10, msPerBatch: 5 }),
      row('Expire-Span', 'expire-span', { bpc: 3, peakBytes: 8, msPerBatch: 4 }),
      row('Adaptive-Span', 'adaptive-span', { bpc: 3, peakBytes: 9, msPerBatch: 6 }),
    ];
    expect(lmClaims(rows(2.5), 0.02)[0]?.outcome).toBe('reproduced');
    expect(lmClaims(rows(3.5), 0.02)[0]?.outcome).toBe('not reproduced');
    expect(lmClaims(rows(3.01), 0.02)[0]?.outcome).toBe('inconclusive');
    const claims = lmClaims(rows(3), 0.02);
    expect(claims.map((claim) => claim.outcome)).toEqual(['inconclusive', 'reproduced', 'reproduced', 'reproduced', 'reproduced']);
  });

  it('long-range: chance accuracy for Transformer-XL and above-chance for a longer memory', () => {
    const { chance, bound } = chanceBound(8, 400);
    expect(chance).toBe(0.125);
    expect(bound).toBeCloseTo(0.125 + 3 * Math.sqrt((0.125 * 0.875) / 400), 10);
    const rows = (txl: number, compressive: number, expire: number) => [
      row('Transformer-XL', 'txl', { accuracy: txl }),
      row('Compressive', 'compressive', { accuracy: compressive }),
      row('Expire-Span', 'expire-span', { accuracy: expire }),
    ];
    // One verdict for Transformer-XL, then one per longer-memory method (compressive, expire-span).
    const outcomes = (txl: number, compressive: number, expire: number) =>
      longRangeClaims(rows(txl, compressive, expire), 8, 400, 69).map((claim) => claim.outcome);
    expect(outcomes(0.12, 0.5, 0.13)).toEqual(['reproduced', 'reproduced', 'not reproduced']);
    expect(outcomes(0.12, 0.13, 0.9)).toEqual(['reproduced', 'not reproduced', 'reproduced']);
    expect(outcomes(0.12, 0.13, 0.12)).toEqual(['reproduced', 'not reproduced', 'not reproduced']);
    expect(outcomes(0.6, 0.6, 0.6)).toEqual(['not reproduced', 'not reproduced', 'not reproduced']);
  });

  it('compressors: the winner must beat every other row by the margin', () => {
    const rows = (winner: number) => [
      row('max-pool', 'compressive', { bpc: 3.2 }),
      row('conv / bptt', 'compressive', { bpc: 3.1 }),
      row('conv / attention-reconstruction', 'compressive', { bpc: winner }),
    ];
    expect(compressorClaims(rows(3.0), 0.02).map((claim) => claim.outcome)).toEqual(['reproduced', 'reproduced']);
    expect(compressorClaims(rows(3.11), 0.02).map((claim) => claim.outcome)).toEqual(['inconclusive', 'inconclusive']);
    expect(compressorClaims(rows(3.3), 0.02).map((claim) => claim.outcome)).toEqual(['not reproduced', 'not reproduced']);
  });
});

describe('the unigram reference', () => {
  it('is 1 bit for two equally frequent tokens and grows for rarer ones', () => {
    const train = Int32Array.from({ length: 100 }, (_, index) => index % 2);
    expect(unigramBitsPerToken(train, Int32Array.from([0, 1, 0, 1, 1]), 2)).toBeCloseTo(1, 12);
    // Token 2 never occurs in train: add-one smoothing gives it 1 / (100 + 3).
    expect(unigramBitsPerToken(train, Int32Array.from([0, 2]), 3)).toBeCloseTo(Math.log2(103), 12);
  });
});

describe('the command line', () => {
  it('runs one suite into --out and prints its table', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'engram-bench-cli-'));
    const chunks: string[] = [];
    const stdout = { write: (chunk: string) => chunks.push(chunk) > 0 } as unknown as NodeJS.WritableStream;
    const code = await runBenchCli(['--suite', 'compressors', '--tiny-test', '--out', directory, '--backend', 'wasm', '--quiet'], {
      stdout,
      stderr: sink,
    });
    expect(code).toBe(0);
    expect(chunks.join('')).toMatch(/compressors \(tiny-test, \d+ s\)\nmodel\s+kind\s+parameters\s+bpc/);
    expect(readdirSync(directory)).toContain('compressors.json');
  });

  it('rejects an unknown suite and conflicting modes with one line', async () => {
    for (const argv of [['--suite', 'nope'], ['--full', '--tiny-test']]) {
      const errors: string[] = [];
      const stderr = { write: (chunk: string) => errors.push(chunk) > 0 } as unknown as NodeJS.WritableStream;
      const code = await runBenchCli(argv, { stdout: sink, stderr });
      expect(code).toBeGreaterThan(0);
      expect(errors.join('').trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('writes to bench-results where pnpm was started', () => {
    expect(defaultOutputDirectory({ INIT_CWD: '/somewhere' })).toBe('/somewhere/bench-results');
  });
});
