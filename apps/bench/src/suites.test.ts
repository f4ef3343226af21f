// Smoke runs of every suite in tiny-test mode: the JSON follows the schema, every required field is there, the files are written.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchCli, defaultOutputDirectory } from './cli.js';
import { runBench } from './runner.js';
import { benchModes, suiteNames, suiteResultSchema, type SuiteName } from './results.js';
import { chanceBound, copyClaims, copyEntries, longRangePlans, remembersClaims, spanClaim, spansByClass, type TaskFacts } from './suites/long-range.js';
import { lmClaims, lmPlans, memorySettings } from './suites/lm.js';
import { ablationRows, compressorClaims, compressorPlans } from './suites/compressors.js';
import { benchConfig, unigramBitsPerToken } from './suites/shared.js';
import { matmulFlops, profileStep, speedClaims, speedShapes, trainee } from './suites/speed.js';
import { registerFastKernels, unregisterFastKernels } from '@engram/kernels';
import { buildModel } from './measure.js';
import * as tf from '@tensorflow/tfjs';

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

  it('lm: claims follow the seeds by the 2-standard-error rule', () => {
    const seeded = (name: string, kind: string, values: Record<string, number[]>, extra: Record<string, number> = {}) => ({
      name,
      kind,
      parameters: 1,
      ...extra,
      ...Object.fromEntries(Object.entries(values).map(([field, list]) => [field, list.reduce((a, b) => a + b, 0) / list.length])),
      seeds: 3,
      perSeed: values,
    });
    const rows = (compressiveBpc: number[]) => [
      seeded('Transformer-XL', 'txl', { bpc: [3.0, 3.01, 2.99] }, { temporalRange: 128 }),
      seeded('Compressive', 'compressive', { bpc: compressiveBpc, peakBytes: [10, 10, 10], msPerBatch: [5, 5.1, 4.9] }, { temporalRange: 320 }),
      seeded('Expire-Span', 'expire-span', { bpc: [3.0, 3.01, 2.99], peakBytes: [8, 8.1, 7.9], msPerBatch: [4, 4.1, 3.9] }),
      seeded('Adaptive-Span', 'adaptive-span', { bpc: [3.0, 3.01, 2.99], peakBytes: [9, 9.1, 8.9], msPerBatch: [6, 6.1, 5.9] }),
    ];
    expect(lmClaims(rows([2.5, 2.51, 2.49]))[0]?.outcome).toBe('reproduced');
    expect(lmClaims(rows([3.5, 3.51, 3.49]))[0]?.outcome).toBe('not reproduced');
    // a mean 0.01 lower but a spread of 0.1: within 2 standard errors
    expect(lmClaims(rows([2.89, 3.09, 2.99]))[0]?.outcome).toBe('inconclusive');
    const claims = lmClaims(rows([3.0, 3.01, 2.99]));
    expect(claims.map((claim) => claim.claim.replace(/ \(.*$|\.$/, ''))).toEqual([
      'At the same attention cost, the Compressive Transformer reaches a lower validation bpc than Transformer-XL',
      'At the same attention cost, the Compressive Transformer reaches further back than Transformer-XL',
      'Expire-Span needs less memory than Adaptive-Span',
      'Expire-Span needs less memory than Compressive',
      'Expire-Span trains faster per batch than Adaptive-Span',
      'Expire-Span trains faster per batch than Compressive',
      'Expire-Span models text at least as well',
      'Expire-Span models text at least as well',
    ]);
    expect(claims.map((claim) => claim.outcome)).toEqual([
      'inconclusive',
      'reproduced',
      'reproduced',
      'reproduced',
      'reproduced',
      'reproduced',
      'reproduced',
      'reproduced',
    ]);
    expect(claims[2]?.evidence).toContain('ratio 0.89x (the paper: about 0.75x)');
    // One seed gives no spread: comparisons cannot decide.
    const single = rows([2.5, 2.51, 2.49]).map(({ perSeed: _p, seeds: _s, ...row }) => row);
    expect(lmClaims(single)[0]?.outcome).toBe('inconclusive');
    // Memory kept at the end: Expire-Span's 40 of 64 slots against Adaptive-Span's full 64 decides; against the Compressive's 63 +- 1 too.
    const kept = rows([3.0, 3.01, 2.99]).map((entry) => {
      const finalMemorySlots = { 'Expire-Span': [38, 40, 42], 'Adaptive-Span': [64, 64, 64], Compressive: [62, 63, 64] }[entry.name] ?? [64, 64, 64];
      return { ...entry, finalMemorySlots: finalMemorySlots.reduce((a, b) => a + b, 0) / 3, perSeed: { ...entry.perSeed, finalMemorySlots } };
    });
    const keptClaims = lmClaims(kept).filter((claim) => claim.claim.startsWith('Expire-Span keeps fewer memories'));
    expect(keptClaims.map((claim) => claim.outcome)).toEqual(['reproduced', 'reproduced']);
    expect(keptClaims[0]?.evidence).toContain('ratio 0.63x');
  });

  it('long-range: chance bound, and Expire-Span must remember with a memory at most half the distance against a matched Transformer-XL', () => {
    const { chance, bound } = chanceBound(8, 400);
    expect(chance).toBe(0.125);
    expect(bound).toBeCloseTo(0.125 + 3 * Math.sqrt((0.125 * 0.875) / 400), 10);
    const facts: TaskFacts = { label: 'copy 3 symbols across 36 tokens', choices: 4, labelled: 400, distance: 36 };
    const rows = (txl: number, expire: number, expireSlots: number, matched: number, finalSlots = expireSlots) => {
      const list = [
        row('Transformer-XL', 'txl', { accuracy: txl, meanMemorySlots: 8 }),
        row('Expire-Span', 'expire-span', { accuracy: expire, meanMemorySlots: expireSlots, finalMemorySlots: finalSlots }),
        row('Transformer-XL (12 slots, as Expire-Span)', 'txl', { accuracy: matched, meanMemorySlots: 12 }),
      ];
      return { list, matched: list[2] as ReturnType<typeof row> };
    };
    const outcomes = (txl: number, expire: number, expireSlots: number, matched: number, finalSlots = expireSlots) => {
      const { list, matched: matchedRow } = rows(txl, expire, expireSlots, matched, finalSlots);
      return copyClaims(list, matchedRow, 12, facts).map((claim) => claim.outcome);
    };
    expect(outcomes(0.25, 0.9, 12, 0.26)).toEqual(['reproduced', 'reproduced']);
    // remembers, but with more memory than the distance: not the claim
    expect(outcomes(0.25, 0.9, 60, 0.26)).toEqual(['reproduced', 'not reproduced']);
    // smaller than the distance but more than half of it (on average, or at the end): not "far smaller"
    expect(outcomes(0.25, 0.9, 19, 0.26)).toEqual(['reproduced', 'not reproduced']);
    expect(outcomes(0.25, 0.9, 12, 0.26, 30)).toEqual(['reproduced', 'not reproduced']);
    expect(outcomes(0.25, 0.9, 18, 0.26)).toEqual(['reproduced', 'reproduced']);
    // the matched Transformer-XL remembers too: the memory size explains it
    expect(outcomes(0.25, 0.9, 12, 0.9)).toEqual(['reproduced', 'not reproduced']);
    const { list, matched } = rows(0.25, 0.9, 12, 0.9);
    expect(copyClaims(list, matched, 12, facts)[1]?.evidence).toContain('remembers too, so the memory size explains it');
    expect(outcomes(0.9, 0.26, 12, 0.26)).toEqual(['not reproduced', 'not reproduced']);
    const baseline = row('Transformer-XL', 'txl', { accuracy: 0.25, meanMemorySlots: 8 });
    const others = [row('Compressive', 'compressive', { accuracy: 0.7 }), row('Adaptive-Span', 'adaptive-span', { accuracy: 0.26 })];
    expect(remembersClaims(others, baseline, facts, ['Compressive', 'Adaptive-Span']).map((claim) => claim.outcome)).toEqual([
      'reproduced',
      'not reproduced',
    ]);
    // 'better': the baseline may be above chance, the method must beat it by the margin.
    const better = row('Transformer-XL', 'txl', { accuracy: 0.5, meanMemorySlots: 8 });
    expect(remembersClaims(others, better, facts, ['Compressive'], 'better')[0]?.outcome).toBe('reproduced');
    expect(remembersClaims(others, better, facts, ['Compressive'], 'chance')[0]?.outcome).toBe('not reproduced');
  });

  it('long-range: spansByClass reads every held memory once by token class, without leaking tensors', async () => {
    const config = benchConfig({
      kind: 'expire-span',
      model: { modelDim: 16, numHeads: 2, numLayers: 2, feedForwardDim: 32, segmentLength: 4, seed: 1 },
      memory: { maxSpan: 32, ramp: 2, initFraction: 0.5 },
      training: { steps: 1, batchSize: 1, learningRate: 1e-3 },
    });
    const model = buildModel(config, 6);
    try {
      const ids = Int32Array.from([0, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 0]);
      const before = tf.memory().numTensors;
      const spans = spansByClass(model, ids, (id) => (id === 1 ? 'payload' : id >= 2 ? 'distractor' : null));
      expect(tf.memory().numTensors).toBe(before);
      // Untrained: every span is initFraction * maxSpan = 16 (w = 0).
      expect(Object.keys(spans).filter((key) => key.includes('.layer')).sort()).toEqual(['distractor.layer0', 'distractor.layer1', 'payload.layer0', 'payload.layer1']);
      for (const [key, value] of Object.entries(spans)) if (key.includes('.layer')) expect(value).toBeCloseTo(16, 4);
      // Pooled moments over layers: every payload memory (id 1, held once per layer) has span 16.
      const payloadCount = spans['count:payload'] ?? 0;
      expect(payloadCount).toBeGreaterThan(0);
      expect(spans['sum:payload']).toBeCloseTo(16 * payloadCount, 3);
      expect(spans['squares:payload']).toBeCloseTo(256 * payloadCount, 1);
      // Equal spans, no spread: the payload is not kept longer.
      expect(spanClaim([spans])?.outcome).toBe('not reproduced');
      const longer = { ...spans, 'sum:payload': 40 * payloadCount, 'squares:payload': 1600 * payloadCount + 1 };
      expect(spanClaim([longer])?.outcome).toBe('reproduced');
      const fifo = buildModel(benchConfig({ ...config, kind: 'txl', memory: { memoryLength: 4 } }), 6);
      expect(spansByClass(fifo, ids, () => 'payload')).toEqual({});
      fifo.dispose();
    } finally {
      model.dispose();
    }
  });

  it('compressors: the winner must beat the best other row by 2 standard errors over the seeds', () => {
    const seeded = (name: string, bpc: number[]) => ({
      name,
      kind: 'compressive',
      parameters: 1,
      bpc: bpc.reduce((a, b) => a + b, 0) / bpc.length,
      seeds: bpc.length,
      perSeed: { bpc },
    });
    const rows = (winner: number[]) => [
      seeded('max-pool', [3.2, 3.21, 3.19]),
      seeded('conv / bptt', [3.1, 3.11, 3.09]),
      seeded('conv / attention-reconstruction', winner),
    ];
    const outcomes = (winner: number[]) => compressorClaims(rows(winner)).map((claim) => claim.outcome);
    expect(outcomes([3.0, 3.01, 2.99])).toEqual(['reproduced', 'reproduced']);
    expect(outcomes([3.06, 3.16, 3.11])).toEqual(['inconclusive', 'inconclusive']);
    expect(outcomes([3.3, 3.31, 3.29])).toEqual(['not reproduced', 'not reproduced']);
    expect(compressorClaims(rows([3.06, 3.16, 3.11]))[0]?.evidence).toMatch(/about \d+ seeds per side would make this difference decisive/);
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
    expect(chunks.join('')).toMatch(/compressors \(tiny-test, \d+ s wall, \d+ s CPU, load average [\d. /]+\)\nmodel\s+kind\s+parameters\s+seeds\s+bpc \(valid\)/);
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

describe('every plan of every mode', () => {
  it.each(benchModes)('%s: builds valid configurations for every run (the full runs are too long for a test)', (mode) => {
    const training = (steps: number) => ({ steps, batchSize: 2, learningRate: 1e-3 });
    const lm = lmPlans[mode];
    expect(lm.seeds.length).toBeGreaterThanOrEqual(mode === 'tiny-test' ? 2 : 3);
    for (const [kind, memory] of Object.entries(memorySettings(lm.memory))) {
      expect(() => benchConfig({ kind: kind as 'txl', model: lm.model, memory, training: training(lm.steps) })).not.toThrow();
    }
    const compressors = compressorPlans[mode];
    for (const row of ablationRows) {
      const memory = {
        memoryLength: compressors.memoryLength,
        compressedLength: compressors.compressedLength,
        compressionRate: compressors.rate,
        compressor: row.compressor,
        training: row.training,
      };
      expect(() => benchConfig({ kind: 'compressive', model: compressors.model, memory, training: training(compressors.steps) })).not.toThrow();
    }
    const longRange = longRangePlans[mode];
    for (const entry of copyEntries(longRange.memory, 48)) {
      expect(() => benchConfig({ kind: entry.kind, model: longRange.model, memory: entry.memory, training: training(longRange.steps) })).not.toThrow();
    }
    // Every method of lm stays within the budget: the Compressive slots add up to M, Expire-Span is capped at M, Adaptive-Span's span at M.
    const settings = memorySettings(lm.memory);
    expect(Number(settings.compressive.memoryLength) + Number(settings.compressive.compressedLength)).toBe(lm.memory);
    expect(settings['expire-span'].maxMemory).toBe(lm.memory);
    expect(settings['adaptive-span'].maxSpan).toBe(lm.memory);
    // With M = T Expire-Span could only hold the current segment (it prunes whole segments): the budget must exceed it.
    expect(lm.memory).toBeGreaterThan(lm.model.segmentLength);
  });
});

describe('speed claims', () => {
  const row = (kind: string, stepMilliseconds: number[]) => ({
    name: kind,
    kind,
    parameters: 1,
    msPerBatch: [...stepMilliseconds].sort((x, y) => x - y)[Math.floor(stepMilliseconds.length / 2)] as number,
    stepMilliseconds,
    extra: { shape: 'tiny', kernels: 'engram' },
  });
  const tiny = speedShapes.filter((shape) => shape.name === 'tiny');
  // Load varies from round to round; every method's step moves with it.
  const load = [1, 1.6, 1.1, 2.2, 1, 1.3];
  const scaled = (factor: number) => load.map((value) => 100 * value * factor);
  it('pairs the methods round by round, so a load swing that both steps of a round share decides nothing', () => {
    const claims = speedClaims([row('txl', scaled(1)), row('expire-span', scaled(1.05)), row('adaptive-span', scaled(1.2)), row('compressive', scaled(1.4))], tiny);
    const outcome = (start: string) => claims.find((claim) => claim.claim.startsWith(start))?.outcome;
    expect(outcome('Expire-Span trains faster')).toBe('reproduced');
    expect(outcome('At the same keys per query, Expire-Span costs at most 1.1x')).toBe('reproduced');
    expect(outcome('At the same keys per query, Adaptive-Span costs at most 1.1x')).toBe('not reproduced');
    expect(outcome('At the same keys per query, Compressive costs at most 1.3x')).toBe('not reproduced');
    expect(claims.find((claim) => claim.claim.startsWith('At the same keys per query, Expire-Span'))?.evidence).toContain('1.05x (range 1.05-1.05');
  });
  it('is inconclusive when two equal costs differ only by noise', () => {
    const noise = [1.02, 0.97, 1.01, 0.99, 1.03, 0.98];
    const claims = speedClaims(
      [row('txl', scaled(1)), row('expire-span', scaled(1).map((value, index) => value * (noise[index] as number))), row('adaptive-span', scaled(1)), row('compressive', scaled(1.25))],
      tiny,
    );
    expect(claims.find((claim) => claim.claim.startsWith('Expire-Span trains faster'))?.outcome).toBe('inconclusive');
    expect(claims.find((claim) => claim.claim.startsWith('At the same keys per query, Compressive'))?.outcome).toBe('reproduced');
  });
});

describe('speed peak memory', () => {
  const shape = { name: 'tiny', batchSize: 2, segmentLength: 8, memory: 8, numLayers: 1, modelDim: 16, numHeads: 2, feedForwardDim: 32 } as const;
  const peakOf = async (current: ReturnType<typeof trainee>) =>
    (await profileStep(() => void current.step(), await current.heldBytes())).peakBytes;

  it("is one model's own peak: the other models alive in the run are not counted", async () => {
    const numTensors = tf.memory().numTensors;
    const measured = trainee('txl', shape, ['engram']);
    const other = trainee('compressive', shape, ['engram']);
    try {
      // Two steps first: the optimizer moments exist and the memory is full, so every later step has the same shapes.
      for (let index = 0; index < 2; index++) measured.step();
      const alone = await peakOf(measured);
      for (let index = 0; index < 2; index++) other.step();
      const beside = await peakOf(measured);
      expect(beside).toBe(alone);
      // It holds at least the model's weights, its two Adam moments and its memory.
      const weights = measured.model.variables().reduce((sum, variable) => sum + 4 * variable.size, 0);
      expect(await measured.heldBytes()).toBeGreaterThan(3 * weights);
      expect(alone).toBeGreaterThan(await measured.heldBytes());
    } finally {
      measured.dispose();
      other.dispose();
    }
    expect(tf.memory().numTensors).toBe(numTensors);
  });
});

describe('speed achieved FLOPs', () => {
  const shape = { name: 'tiny', batchSize: 2, segmentLength: 8, memory: 8, numLayers: 1, modelDim: 16, numHeads: 2, feedForwardDim: 32 } as const;

  it('reads the head products off their shapes as the batched products they stand for', () => {
    // Scores [2, 3, 5, 7] from queries [2, 5, 3*4]: 2 * 210 products of width 4.
    expect(matmulFlops({ name: 'EngramHeadScores', inputShapes: [[2, 5, 12], [2, 7, 12]], outputShapes: [[2, 3, 5, 7]] })).toBe(2 * 210 * 4);
    expect(matmulFlops({ name: 'EngramPairScores', inputShapes: [[2, 5, 12], [1, 9, 12], [2, 5, 7]], outputShapes: [[2, 3, 5, 7]] })).toBe(2 * 210 * 4);
    // Weights [2, 3, 5, 7] applied to values of width 3*4, and the transposed form: the same 2 * 210 * 4.
    expect(matmulFlops({ name: 'EngramHeadApply', inputShapes: [[2, 3, 5, 7], [2, 7, 12]], outputShapes: [[2, 5, 12]] })).toBe(2 * 210 * 4);
    expect(matmulFlops({ name: 'EngramHeadApplyTransposed', inputShapes: [[2, 3, 5, 7], [2, 5, 12]], outputShapes: [[2, 7, 12]] })).toBe(2 * 210 * 4);
    // The batched product it replaces: [6, 5, 4] x [6, 4, 7] -> [6, 5, 7].
    expect(matmulFlops({ name: 'BatchMatMul', inputShapes: [[6, 5, 4], [6, 4, 7]], outputShapes: [[6, 5, 7]] })).toBe(2 * 210 * 4);
    expect(matmulFlops({ name: 'Add', inputShapes: [[6, 5, 7], [6, 5, 7]], outputShapes: [[6, 5, 7]] })).toBe(0);
  });

  it("counts the same work for a Transformer-XL step on Engram's kernels and on the stock ones", async () => {
    if (tf.getBackend() !== 'wasm') return;
    const numTensors = tf.memory().numTensors;
    const current = trainee('txl', shape, ['engram', 'stock']);
    const flopsOf = async () => (await profileStep(() => void current.step(), await current.heldBytes())).flops;
    try {
      for (let index = 0; index < 2; index++) current.step();
      const engram = await flopsOf();
      unregisterFastKernels();
      const stock = await flopsOf();
      expect(engram).toBeGreaterThan(0);
      expect(engram).toBe(stock);
    } finally {
      registerFastKernels();
      current.dispose();
    }
    expect(tf.memory().numTensors).toBe(numTensors);
  });
});
