// Suite `compressors`: the Compressive Transformer with each compression function and training mode, like the paper's ablation table.
import { StreamBatcher, evaluationBatches } from '@engram/datasets';
import { measureRun, type RunMeasurement } from '../measure.js';
import type { BenchMode, Claim, ModelResult } from '../results.js';
import type { SuiteContext, SuiteOutput } from '../runner.js';
import { benchConfig, bookTokens, compareLower, formatNumber, lossChart, modelResultOf, sources, validationChart } from './shared.js';

interface Plan {
  model: { modelDim: number; numHeads: number; numLayers: number; feedForwardDim: number; segmentLength: number };
  memoryLength: number;
  compressedLength: number;
  rate: number;
  batchSize: number;
  steps: number;
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
    steps: 120,
    evalEvery: 40,
    evalTokens: 4096,
    learningRate: 2e-3,
  },
  full: {
    model: { modelDim: 128, numHeads: 4, numLayers: 2, feedForwardDim: 512, segmentLength: 64 },
    memoryLength: 32,
    compressedLength: 32,
    rate: 4,
    batchSize: 8,
    steps: 1500,
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

/** The claims of the ablation, decided from the measured bpc. */
export function compressorClaims(rows: readonly ModelResult[], margin: number): Claim[] {
  const withBpc = rows.filter((row) => row.bpc !== undefined);
  const winner = withBpc.find((row) => row.name === 'conv / attention-reconstruction');
  if (winner?.bpc === undefined || withBpc.length < 2) return [];
  const others = withBpc.filter((row) => row !== winner);
  const bestOther = others.reduce((best, row) => ((row.bpc as number) < (best.bpc as number) ? row : best));
  const first = compareLower(winner.bpc, bestOther.bpc as number, margin);
  const convModes = withBpc.filter((row) => row.name === 'conv / auto-encoding' || row.name === 'conv / bptt');
  const claims: Claim[] = [
    {
      claim: 'A convolution trained with the attention-reconstruction loss is the best compression function and training mode.',
      source: sources.compressive,
      outcome: first === 'lower' ? 'reproduced' : first === 'higher' ? 'not reproduced' : 'inconclusive',
      evidence:
        `conv / attention-reconstruction ${formatNumber(winner.bpc)} bpc; best of the others: ${bestOther.name} ${formatNumber(bestOther.bpc as number)} ` +
        `(differences under ${margin} bpc count as a tie). All: ${withBpc.map((row) => `${row.name} ${formatNumber(row.bpc as number)}`).join(', ')}.`,
    },
  ];
  if (convModes.length > 0) {
    const bestMode = convModes.reduce((best, row) => ((row.bpc as number) < (best.bpc as number) ? row : best));
    const second = compareLower(winner.bpc, bestMode.bpc as number, margin);
    claims.push({
      claim: 'For the convolutional compressor, attention-reconstruction trains it better than auto-encoding or backpropagation through time.',
      source: sources.compressive,
      outcome: second === 'lower' ? 'reproduced' : second === 'higher' ? 'not reproduced' : 'inconclusive',
      evidence: `attention-reconstruction ${formatNumber(winner.bpc)}, ${convModes.map((row) => `${row.name} ${formatNumber(row.bpc as number)}`).join(', ')} bpc.`,
    });
  }
  return claims;
}

/** Runs the suite. */
export async function runCompressorsSuite(context: SuiteContext): Promise<SuiteOutput> {
  const plan = compressorPlans[context.mode];
  const tokens = await bookTokens('character');
  const validation =
    plan.evalTokens === null || tokens.valid.length <= plan.evalTokens + 1 ? tokens.valid : tokens.valid.subarray(0, plan.evalTokens + 1);
  const runs: RunMeasurement[] = [];
  const configs: Record<string, unknown> = {};
  for (const row of ablationRows) {
    const name = rowName(row);
    // BPTT unrolls 2 segments per optimizer step: half the steps keep the characters seen equal across rows.
    const steps = row.training === 'bptt' ? Math.max(1, Math.round(plan.steps / 2)) : plan.steps;
    const config = benchConfig({
      kind: 'compressive',
      model: { ...plan.model, seed: 3 },
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
    context.log(` ${name}: ${steps} steps`);
    runs.push(
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
      }),
    );
  }
  const rows = runs.map((run) => modelResultOf(run));
  const margin = 0.02;
  return {
    config: {
      data: { corpus: 'moby-dick', tokenizer: 'character', validationTokens: validation.length - 1 },
      plan,
      memory: configs,
    },
    models: rows,
    charts: [
      lossChart('learning-curves', 'Learning curves by compression function and training mode', runs),
      validationChart('validation', 'Validation bits per character', runs),
    ],
    claims: compressorClaims(rows, margin),
    notes: [
      `Every row is the same model (${plan.model.numLayers} layers, width ${plan.model.modelDim}) with ${plan.memoryLength} regular and ` +
        `${plan.compressedLength} compressed slots at rate ${plan.rate}, trained ${plan.steps} steps from the same seed.`,
      `BPTT unrolls 2 segments per optimizer step, so it runs ${Math.max(1, Math.round(plan.steps / 2))} steps: every row sees the same characters.`,
      'Pooling and most-used have no parameters (training "none"); dilated-conv and conv train with their own optimizer on the compression loss only.',
    ],
  };
}
