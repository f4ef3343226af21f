// Suite `compressors`: the Compressive Transformer with each compression function and training mode, like the paper's ablation table.
import { StreamBatcher, evaluationBatches } from '@engram/datasets';
import { measureRun, type RunMeasurement } from '../measure.js';
import type { BenchMode, Claim, ModelResult } from '../results.js';
import type { SuiteContext, SuiteOutput } from '../runner.js';
import { describeComparison, formatSummary, lowerClaim, stepsToDecide, summarize } from '../stats.js';
import { aggregateSeeds, benchConfig, bookTokens, mean, meanCurve, modelResultOf, seedValues, sources } from './shared.js';

interface Plan {
  model: { modelDim: number; numHeads: number; numLayers: number; feedForwardDim: number; segmentLength: number };
  memoryLength: number;
  compressedLength: number;
  rate: number;
  batchSize: number;
  steps: number;
  /** Model seeds: every row trains once per seed. */
  seeds: number[];
  evalEvery: number;
  evalTokens: number | null;
  learningRate: number;
}

export const compressorPlans: Record<BenchMode, Plan> = {
  'tiny-test': {
    model: { modelDim: 32, numHeads: 2, numLayers: 2, feedForwardDim: 64, segmentLength: 8 },
    memoryLength: 8,
    compressedLength: 4,
    rate: 2,
    batchSize: 2,
    steps: 2,
    seeds: [3, 4],
    evalEvery: 0,
    evalTokens: 48,
    learningRate: 1e-3,
  },
  quick: {
    model: { modelDim: 64, numHeads: 4, numLayers: 2, feedForwardDim: 256, segmentLength: 32 },
    memoryLength: 16,
    compressedLength: 16,
    rate: 4,
    batchSize: 8,
    steps: 240,
    seeds: [3, 4, 5],
    evalEvery: 60,
    evalTokens: 2048,
    learningRate: 2e-3,
  },
  full: {
    model: { modelDim: 128, numHeads: 4, numLayers: 2, feedForwardDim: 512, segmentLength: 64 },
    memoryLength: 32,
    compressedLength: 32,
    rate: 4,
    batchSize: 8,
    steps: 1500,
    seeds: [3, 4, 5],
    evalEvery: 250,
    evalTokens: null,
    learningRate: 1e-3,
  },
};

/** The rows of the ablation: compression function and how it is trained (SPEC 3.1, 3.2). */
export const ablationRows = [
  { compressor: 'max-pool', training: 'none' },
  { compressor: 'mean-pool', training: 'none' },
  { compressor: 'most-used', training: 'none' },
  { compressor: 'dilated-conv', training: 'attention-reconstruction' },
  { compressor: 'conv', training: 'bptt' },
  { compressor: 'conv', training: 'auto-encoding' },
  { compressor: 'conv', training: 'attention-reconstruction' },
] as const;

function rowName(row: (typeof ablationRows)[number]): string {
  return row.training === 'none' ? row.compressor : `${row.compressor} / ${row.training}`;
}

/** The claims of the ablation, decided by the rule of `stats.ts` over the seeds of each row. */
export function compressorClaims(
  rows: readonly ModelResult[],
  /** Mean validation bpc over seeds at each evaluation, by row name, against single-segment steps (for the steps-needed estimate). */
  curves: ReadonlyMap<string, readonly (readonly [number, number])[]> = new Map(),
): Claim[] {
  const withBpc = rows.filter((row) => seedValues(row, 'bpc').length > 0);
  const winner = withBpc.find((row) => row.name === 'conv / attention-reconstruction');
  if (winner === undefined || withBpc.length < 2) return [];
  const bpc = (row: ModelResult) => seedValues(row, 'bpc');
  const lowest = (candidates: readonly ModelResult[]) =>
    candidates.reduce((best, row) => (mean(bpc(row)) < mean(bpc(best)) ? row : best));
  const verdict = (claim: string, rivals: readonly ModelResult[]): Claim => {
    const rival = lowest(rivals);
    const { outcome, comparison } = lowerClaim(bpc(winner), bpc(rival));
    // An undecided claim also says how many steps its gap's trend would need to reach 2 standard errors.
    let stepsText = '';
    if (outcome === 'inconclusive' && comparison.undecidable === undefined) {
      const rivalCurve = curves.get(rival.name) ?? [];
      const gap = (curves.get(winner.name) ?? []).flatMap(([step, value]) => {
        const other = rivalCurve.find(([otherStep]) => otherStep === step);
        return other === undefined ? [] : [[step, value - other[1]] as [number, number]];
      });
      const { steps, slope } = stepsToDecide(gap, comparison.standardError, -1);
      if (gap.length >= 2) {
        stepsText =
          steps === null
            ? ` Over training the gap moved ${slope.toExponential(1)} bpc per step, not toward conv / attention-reconstruction: more steps at this trend would not decide it for it.`
            : ` Over training the gap moved ${slope.toExponential(1)} bpc per step; if that trend and the spread held, about ${steps} steps would make it decisive.`;
      }
    }
    return {
      claim,
      source: sources.compressive,
      outcome,
      evidence:
        `conv / attention-reconstruction ${formatSummary(bpc(winner))} bpc against the best of the others, ${rival.name} ${formatSummary(bpc(rival))}: ` +
        `${describeComparison(comparison)}. All rows: ${withBpc.map((row) => `${row.name} ${formatSummary(bpc(row))}`).join(', ')}.${stepsText}`,
    };
  };
  const others = withBpc.filter((row) => row !== winner);
  const claims = [verdict('A convolution trained with the attention-reconstruction loss is the best compression function and training mode.', others)];
  const convModes = withBpc.filter((row) => row.name === 'conv / auto-encoding' || row.name === 'conv / bptt');
  if (convModes.length > 0) {
    claims.push(
      verdict('For the convolutional compressor, attention-reconstruction trains it better than auto-encoding or backpropagation through time.', convModes),
    );
  }
  return claims;
}

/** Runs the suite. */
export async function runCompressorsSuite(context: SuiteContext): Promise<SuiteOutput> {
  const plan = compressorPlans[context.mode];
  const tokens = await bookTokens('character');
  const validation =
    plan.evalTokens === null || tokens.valid.length <= plan.evalTokens + 1 ? tokens.valid : tokens.valid.subarray(0, plan.evalTokens + 1);
  const runs = new Map<string, RunMeasurement[]>();
  const configs: Record<string, unknown> = {};
  for (const row of ablationRows) {
    const name = rowName(row);
    // BPTT unrolls 2 segments per optimizer step: half the steps keep the characters seen equal across rows.
    const steps = row.training === 'bptt' ? Math.max(1, Math.round(plan.steps / 2)) : plan.steps;
    const perSeed: RunMeasurement[] = [];
    for (const seed of plan.seeds) {
      const config = benchConfig({
        kind: 'compressive',
        model: { ...plan.model, seed },
        memory: {
          memoryLength: plan.memoryLength,
          compressedLength: plan.compressedLength,
          compressionRate: plan.rate,
          compressor: row.compressor,
          training: row.training,
        },
        training: {
          steps,
          batchSize: plan.batchSize,
          learningRate: plan.learningRate,
          warmupSteps: Math.min(10, steps),
          evalEvery: row.training === 'bptt' ? Math.max(1, Math.round(plan.evalEvery / 2)) : plan.evalEvery,
          clipNorm: 0.25,
        },
      });
      configs[name] = { ...config.memory, steps };
      context.log(` ${name} seed ${seed}: ${steps} steps`);
      perSeed.push(
        await measureRun({
          name,
          config,
          vocabSize: tokens.tokenizer.vocabSize,
          data: new StreamBatcher(tokens.train, { batchSize: plan.batchSize, segmentLength: plan.model.segmentLength }),
          evaluation: {
            name: 'validation',
            batches: () => evaluationBatches(validation, { batchSize: plan.batchSize, segmentLength: plan.model.segmentLength }),
          },
          profileMemoryEvery: Math.max(1, Math.floor(steps / 3)),
          log: context.log,
          dataIdentity: { corpus: 'moby-dick', tokenizer: 'character', validationTokens: validation.length },
          ...(context.runCache ? { cache: context.runCache } : {}),
        }),
      );
    }
    runs.set(name, perSeed);
  }
  const names = ablationRows.map(rowName);
  const rows = names.map((name) => aggregateSeeds((runs.get(name) ?? []).map((run) => modelResultOf(run))));
  const caption = `${plan.steps} steps (BPTT ${Math.max(1, Math.round(plan.steps / 2))} of 2 segments), ${plan.seeds.length} seeds per row (mean; error bars: standard deviation)`;
  // BPTT's x axis is in optimizer steps of 2 segments: plot against segments seen so every row shares the axis.
  const segmentsPerStep = (name: string) => (name.endsWith('/ bptt') ? 2 : 1);
  return {
    config: {
      data: { corpus: 'moby-dick', tokenizer: 'character', validationTokens: validation.length - 1 },
      plan,
      memory: configs,
    },
    models: rows,
    charts: [
      {
        id: 'final-bpc',
        title: 'Validation bpc by compression function and training mode',
        xLabel: 'compressor / training',
        yLabel: 'validation bits per character (bpc)',
        mode: 'bar',
        orientation: 'horizontal',
        categories: rows.map((row) => row.name),
        series: [
          {
            name: 'validation bpc',
            points: rows.map((row, index) => [index, mean(seedValues(row, 'bpc'))] as [number, number]),
            errors: rows.map((row) => (seedValues(row, 'bpc').length > 1 ? summarize(seedValues(row, 'bpc')).stdDev : 0)),
          },
        ],
        caption,
      },
      {
        id: 'validation',
        title: 'Validation bits per character over training',
        xLabel: 'segments trained (optimizer steps x segments per step)',
        yLabel: 'validation bpc (bits per character)',
        mode: 'line',
        series: names.map((name) =>
          meanCurve(
            name,
            (runs.get(name) ?? []).map((run) => run.evaluations.map((point) => [point.step * segmentsPerStep(name), point.bitsPerToken] as [number, number])),
          ),
        ),
        caption,
      },
    ],
    claims: compressorClaims(
      rows,
      new Map(names.map((name) => [name, meanCurve(name, (runs.get(name) ?? []).map((run) => run.evaluations.map((point) => [point.step * segmentsPerStep(name), point.bitsPerToken] as [number, number]))).points])),
    ),
    notes: [
      `Every row is the same model (${plan.model.numLayers} layers, width ${plan.model.modelDim}) with ${plan.memoryLength} regular and ` +
        `${plan.compressedLength} compressed slots at rate ${plan.rate}, trained ${plan.steps} steps once per seed (${plan.seeds.join(', ')}).`,
      'A row wins only when its mean bpc is lower than the best other row by more than 2 standard errors of the difference; when it is not, the verdict says how many seeds per row the measured spread would need for that difference to count.',
      `BPTT unrolls 2 segments per optimizer step, so it runs ${Math.max(1, Math.round(plan.steps / 2))} steps: every row sees the same characters.`,
      'Pooling and most-used have no parameters (training "none"); dilated-conv and conv train with their own optimizer on the compression loss only.',
    ],
  };
}
