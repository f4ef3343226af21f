// Pieces the suites share: the bundled book as tokens, configurations through the CLI schema, result rows, charts and claim checks.
import type { TokenizerKind } from '@engram/datasets';
import { encodeCorpus, prepareCorpus, type EncodedCorpus } from '@engram/datasets/node';
import { validateConfig } from '@engram/cli';
import type { BuiltInConfig, BuiltInKind, RunMeasurement } from '../measure.js';
import type { Chart, Claim, ModelResult } from '../results.js';
import { summarize } from '../stats.js';

const encoded = new Map<TokenizerKind, Promise<EncodedCorpus>>();

/** The bundled book (Moby Dick, @engram/datasets) tokenized with `kind`; computed once per process. */
export function bookTokens(kind: TokenizerKind): Promise<EncodedCorpus> {
  let pending = encoded.get(kind);
  if (pending === undefined) {
    pending = prepareCorpus('moby-dick').then((corpus) => encodeCorpus(corpus, kind));
    encoded.set(kind, pending);
  }
  return pending;
}

/** A full configuration checked by the same schema as the `engram` command. */
export function benchConfig(input: {
  kind: BuiltInKind;
  model: Record<string, unknown>;
  memory: Record<string, unknown>;
  training: Record<string, unknown>;
}): BuiltInConfig {
  // The schema keeps the kind it was given, so the result is still a built-in kind.
  return validateConfig({ ...input, data: { corpus: 'moby-dick' } }, `bench ${input.kind} configuration`) as BuiltInConfig;
}

/** Display names of the memory kinds. */
export const kindNames: Record<BuiltInKind, string> = {
  txl: 'Transformer-XL',
  compressive: 'Compressive',
  'expire-span': 'Expire-Span',
  'adaptive-span': 'Adaptive-Span',
};

/** Arithmetic mean (0 for an empty list). */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** The table row of a measured training run. */
export function modelResultOf(measurement: RunMeasurement, extra: Partial<ModelResult> = {}): ModelResult {
  const { result, final } = measurement;
  const throughput = result.throughput;
  const perLayer = measurement.meanMemorySlotsPerLayer;
  const last = measurement.steps[measurement.steps.length - 1];
  return {
    name: measurement.name,
    kind: measurement.kind,
    parameters: measurement.parameters,
    ...(final === null ? {} : { bpc: final.bitsPerToken }),
    ...(measurement.peakBytes === null ? {} : { peakBytes: measurement.peakBytes }),
    peakRssBytes: result.memory.peakRssBytes,
    ...(throughput === null
      ? {}
      : { msPerBatch: throughput.medianSecondsPerBatch * 1000, trainTokensPerSecond: throughput.tokensPerSecond }),
    ...(final === null || final.seconds <= 0 ? {} : { evalTokensPerSecond: final.count / final.seconds }),
    temporalRange: measurement.temporalRange,
    ...(perLayer === null ? {} : { meanMemorySlots: mean(perLayer), meanMemorySlotsPerLayer: perLayer }),
    ...(last === undefined ? {} : { finalMemorySlots: last.memorySlots }),
    steps: result.step,
    ...(last === undefined ? {} : { finalTrainLoss: last.taskLoss }),
    ...extra,
  };
}

/** Moving average over `window` points (smooths noisy per-step losses for the charts). */
export function smooth(points: readonly (readonly [number, number])[], window: number): [number, number][] {
  return points.map((point, index) => {
    const from = Math.max(0, index - window + 1);
    const slice = points.slice(from, index + 1);
    return [point[0], mean(slice.map(([, value]) => value))];
  });
}

/** Training loss in bits per token against step, smoothed. */
export function lossChart(id: string, title: string, runs: readonly RunMeasurement[]): Chart {
  const window = Math.max(1, Math.round(Math.max(...runs.map((run) => run.steps.length)) / 20));
  return {
    id,
    title,
    xLabel: 'training step',
    yLabel: `training loss (bits per token, ${window}-step average)`,
    mode: 'line',
    series: runs.map((run) => ({
      name: run.name,
      points: smooth(
        run.steps.map((point) => [point.step, point.taskLoss / Math.LN2] as const),
        window,
      ),
    })),
  };
}

/** Validation bits per token at each evaluation. */
export function validationChart(id: string, title: string, runs: readonly RunMeasurement[], yLabel = 'validation bpc'): Chart {
  return {
    id,
    title,
    xLabel: 'training step',
    yLabel,
    mode: 'line',
    series: runs.map((run) => ({ name: run.name, points: run.evaluations.map((point) => [point.step, point.bitsPerToken]) })),
  };
}

/** Mean memory slots per layer against step. */
export function memoryChart(id: string, runs: readonly RunMeasurement[]): Chart {
  return {
    id,
    title: 'Memory size over training',
    xLabel: 'training step',
    yLabel: 'memory slots read per layer (mean over layers)',
    mode: 'line',
    series: runs.map((run) => ({ name: run.name, points: run.steps.map((point) => [point.step, point.memorySlots]) })),
  };
}

/** Validation bpc against mean memory (one dot per model). */
export function bpcAgainstMemoryChart(id: string, rows: readonly ModelResult[]): Chart {
  return {
    id,
    title: 'Bits per character against memory size',
    xLabel: 'mean memory slots per layer',
    yLabel: 'validation bpc',
    mode: 'scatter',
    series: rows
      .filter((row) => row.bpc !== undefined && row.meanMemorySlots !== undefined)
      .map((row) => ({ name: row.name, points: [[row.meanMemorySlots as number, row.bpc as number]] })),
  };
}

/**
 * Bits per token of a unigram model (token frequencies of `train`, add-one smoothed) on `evaluated`
 * (every token but the first, as the language models are scored): a reference point for the bpc.
 */
export function unigramBitsPerToken(train: Int32Array, evaluated: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (const token of train) counts[token] = (counts[token] ?? 0) + 1;
  const total = train.length + vocabSize;
  let bits = 0;
  for (let index = 1; index < evaluated.length; index++) bits -= Math.log2((counts[evaluated[index] as number] ?? 1) / total);
  return bits / Math.max(1, evaluated.length - 1);
}

/** Formats a number for claim evidence. */
export function formatNumber(value: number, digits = 3): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

/**
 * "a is lower than b" with a tie margin: `lower` when a < b - margin, `higher` when a > b + margin, else `tie`.
 */
export function compareLower(a: number, b: number, margin: number): 'lower' | 'tie' | 'higher' {
  if (a < b - margin) return 'lower';
  if (a > b + margin) return 'higher';
  return 'tie';
}

/** A claim whose outcome follows from a comparison: lower = reproduced, higher = not reproduced, tie = inconclusive. */
export function lowerIsClaimed(
  claim: string,
  source: string,
  comparison: 'lower' | 'tie' | 'higher',
  evidence: string,
): Claim {
  return {
    claim,
    source,
    outcome: comparison === 'lower' ? 'reproduced' : comparison === 'higher' ? 'not reproduced' : 'inconclusive',
    evidence,
  };
}

/** The row of a kind, or throws (suites always run every kind they claim about). */
export function rowOf(rows: readonly ModelResult[], name: string): ModelResult {
  const row = rows.find((candidate) => candidate.name === name);
  if (row === undefined) throw new Error(`bench: no result named ${name}`);
  return row;
}

export const sources = {
  compressive: 'Compressive Transformer (Rae et al. 2019)',
  expireSpan: 'Expire-Span (Sukhbaatar et al. 2021)',
} as const;

/** Numeric fields of a row that are averaged over seeds, and whose per-seed values are kept. */
const seededFields = [
  'bpc',
  'testBpc',
  'accuracy',
  'peakBytes',
  'peakRssBytes',
  'msPerBatch',
  'trainTokensPerSecond',
  'evalTokensPerSecond',
  'temporalRange',
  'meanMemorySlots',
  'finalMemorySlots',
  'finalTrainLoss',
] as const;

/**
 * One row for the seeds of a method: every numeric field is the mean over `rows` (the rows of one
 * method, one per seed), `perSeed` keeps the per-seed values, `seeds` counts them.
 */
export function aggregateSeeds(rows: readonly ModelResult[]): ModelResult {
  const first = rows[0];
  if (first === undefined) throw new Error('bench: aggregateSeeds needs at least one row');
  const perSeed: Record<string, number[]> = {};
  const means: Partial<ModelResult> = {};
  for (const field of seededFields) {
    const values = rows.map((row) => row[field]).filter((value): value is number => value !== undefined);
    if (values.length !== rows.length) continue;
    perSeed[field] = values;
    (means as Record<string, number>)[field] = summarize(values).mean;
  }
  const layers = rows.map((row) => row.meanMemorySlotsPerLayer);
  const perLayer = layers.every((layer): layer is number[] => layer !== undefined)
    ? (layers[0] ?? []).map((_, index) => mean(layers.map((layer) => layer[index] ?? 0)))
    : undefined;
  const { meanMemorySlotsPerLayer: _layers, perSeed: _seeds, ...rest } = first;
  return {
    ...rest,
    ...means,
    ...(perLayer === undefined ? {} : { meanMemorySlotsPerLayer: perLayer }),
    seeds: rows.length,
    perSeed,
  };
}

/** The per-seed values of `field` of a row (its single value when it has no seeds; [] when absent). */
export function seedValues(row: ModelResult, field: (typeof seededFields)[number]): number[] {
  const values = row.perSeed?.[field];
  if (values !== undefined) return values;
  const value = row[field];
  return value === undefined ? [] : [value];
}

/**
 * The mean curve over seeds with the standard deviation as error bars: `curves` holds one list of
 * (x, y) points per seed; points are matched by x (x values present in every seed).
 */
export function meanCurve(name: string, curves: readonly (readonly (readonly [number, number])[])[]): Chart['series'][number] {
  const xs = (curves[0] ?? []).map(([x]) => x).filter((x) => curves.every((curve) => curve.some(([other]) => other === x)));
  const points: [number, number][] = [];
  const errors: number[] = [];
  for (const x of xs) {
    const summary = summarize(curves.map((curve) => curve.find(([other]) => other === x)?.[1] as number));
    points.push([x, summary.mean]);
    errors.push(summary.stdDev);
  }
  return curves.length > 1 ? { name, points, errors } : { name, points };
}
