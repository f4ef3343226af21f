// Suite `long-range`: copy-after-delay with a delay beyond Transformer-XL's reach; accuracy per model shows which methods remember.
import { TaskStream, createCopyTask, type TokenBatch } from '@engram/datasets';
import type { EngramConfig } from '@engram/cli';
import { measureRun, type RunMeasurement } from '../measure.js';
import type { BenchMode, Claim, ModelResult } from '../results.js';
import type { SuiteContext, SuiteOutput } from '../runner.js';
import { benchConfig, formatNumber, kindNames, lossChart, memoryChart, modelResultOf, rowOf, sources } from './shared.js';

interface Plan {
  model: { modelDim: number; numHeads: number; numLayers: number; feedForwardDim: number; segmentLength: number };
  /** Transformer-XL's memory M (the others start at the same attention cost). */
  memory: number;
  task: { payloadLength: number; delay: number; alphabetSize: number; distractorAlphabetSize: number };
  batchSize: number;
  steps: number;
  evalEvery: number;
  evalBatches: number;
  learningRate: number;
}

export const longRangePlans: Record<BenchMode, Plan> = {
  'tiny-test': {
    model: { modelDim: 32, numHeads: 2, numLayers: 2, feedForwardDim: 64, segmentLength: 8 },
    memory: 8,
    task: { payloadLength: 2, delay: 24, alphabetSize: 4, distractorAlphabetSize: 2 },
    batchSize: 2,
    steps: 3,
    evalEvery: 0,
    evalBatches: 4,
    learningRate: 3e-3,
  },
  quick: {
    model: { modelDim: 64, numHeads: 4, numLayers: 2, feedForwardDim: 128, segmentLength: 16 },
    memory: 8,
    task: { payloadLength: 3, delay: 32, alphabetSize: 4, distractorAlphabetSize: 2 },
    batchSize: 32,
    steps: 250,
    evalEvery: 50,
    evalBatches: 12,
    learningRate: 3e-3,
  },
  full: {
    model: { modelDim: 64, numHeads: 4, numLayers: 2, feedForwardDim: 128, segmentLength: 16 },
    memory: 8,
    task: { payloadLength: 3, delay: 32, alphabetSize: 4, distractorAlphabetSize: 2 },
    batchSize: 32,
    steps: 3000,
    evalEvery: 250,
    evalBatches: 100,
    learningRate: 3e-3,
  },
};

/**
 * Memory of each method. Transformer-XL keeps M slots per layer, which with L layers and segments of T
 * reaches about L * M + T tokens: less than the copy distance. The Compressive Transformer reads as many
 * slots (M/2 regular + M/2 compressed at rate 4) but reaches M/2 + 4 x M/2 tokens per layer, past the copy.
 * Expire-Span and Adaptive-Span start with spans that reach past the copy distance (`reach` tokens) and
 * may learn longer or shorter ones: the question is whether they use it, and how much memory they keep.
 */
function memorySettings(memory: number, reach: number): Record<EngramConfig['kind'], Record<string, unknown>> {
  const ramp = Math.max(2, memory / 2);
  const maxSpan = 16 * memory;
  return {
    txl: { memoryLength: memory },
    compressive: {
      memoryLength: memory / 2,
      compressedLength: memory / 2,
      compressionRate: 4,
      compressor: 'conv',
      training: 'attention-reconstruction',
    },
    'expire-span': { maxSpan, ramp, initFraction: Math.min(0.9, reach / maxSpan), alpha: 1e-6 },
    'adaptive-span': { maxSpan, ramp, buffer: ramp, initFraction: Math.min(1, reach / maxSpan), alpha: 5e-7 },
  };
}

const kinds: EngramConfig['kind'][] = ['txl', 'adaptive-span', 'compressive', 'expire-span'];

function* take(stream: TaskStream, count: number): Generator<TokenBatch> {
  for (let index = 0; index < count; index++) yield stream.next();
}

/** Accuracy that chance would not reach: 3 binomial standard errors above 1/A over `labelled` positions. */
export function chanceBound(alphabetSize: number, labelled: number): { chance: number; bound: number } {
  const chance = 1 / alphabetSize;
  return { chance, bound: chance + 3 * Math.sqrt((chance * (1 - chance)) / Math.max(1, labelled)) };
}

/** The claims, decided from accuracies against chance. */
export function longRangeClaims(rows: readonly ModelResult[], alphabetSize: number, labelled: number, distance: number): Claim[] {
  const { chance, bound } = chanceBound(alphabetSize, labelled);
  const txl = rowOf(rows, kindNames.txl);
  const describe = (row: ModelResult): string => `${row.name} ${formatNumber((row.accuracy ?? 0) * 100, 1)}%`;
  const longer = [kindNames.compressive, kindNames['expire-span'], kindNames['adaptive-span']]
    .map((name) => rows.find((row) => row.name === name))
    .filter((row): row is ModelResult => row !== undefined);
  const remembering = longer.filter((row) => (row.accuracy ?? 0) > bound && (row.accuracy ?? 0) > (txl.accuracy ?? 0) + (bound - chance));
  return [
    {
      claim: `Transformer-XL cannot copy symbols from ${distance} tokens back, beyond its temporal range (${txl.temporalRange ?? '?'} tokens).`,
      source: sources.compressive,
      outcome: (txl.accuracy ?? 1) <= bound ? 'reproduced' : 'not reproduced',
      evidence: `${describe(txl)} accuracy; chance is ${formatNumber(chance * 100, 1)}%, and anything above ${formatNumber(bound * 100, 1)}% (3 standard errors over ${labelled} answers) is not chance.`,
    },
    // One verdict per method: a method that stays at chance is "not reproduced" even when another remembers.
    ...longer.map((row) => {
      const remembers = remembering.includes(row);
      return {
        claim: `${row.name}'s longer memory (temporal range ${row.temporalRange ?? '?'} tokens) lets it copy across ${distance} tokens, where Transformer-XL cannot.`,
        source: row.kind === 'compressive' ? sources.compressive : sources.expireSpan,
        outcome: remembers ? ('reproduced' as const) : ('not reproduced' as const),
        evidence:
          `${describe(row)} accuracy against Transformer-XL's ${formatNumber((txl.accuracy ?? 0) * 100, 1)}% ` +
          `(chance ${formatNumber(chance * 100, 1)}%, not-chance above ${formatNumber(bound * 100, 1)}%)` +
          (remembers ? ': it remembers.' : ': it does not remember at this training length.'),
      };
    }),
  ];
}

/** Runs the suite. */
export async function runLongRangeSuite(context: SuiteContext): Promise<SuiteOutput> {
  const plan = longRangePlans[context.mode];
  const task = createCopyTask(plan.task);
  const distance = plan.task.payloadLength + plan.task.delay + 1;
  // Spans that start a little past the copy distance (rounded up to whole segments).
  const reach = Math.ceil((distance + plan.model.segmentLength) / plan.model.segmentLength) * plan.model.segmentLength;
  const settings = memorySettings(plan.memory, reach);
  const configs = kinds.map((kind) =>
    benchConfig({
      kind,
      model: { ...plan.model, seed: 2 },
      memory: settings[kind],
      training: {
        steps: plan.steps,
        batchSize: plan.batchSize,
        learningRate: plan.learningRate,
        warmupSteps: Math.min(20, plan.steps),
        evalEvery: plan.evalEvery,
        clipNorm: 0.25,
      },
    }),
  );
  const runs: RunMeasurement[] = [];
  for (const config of configs) {
    context.log(` ${kindNames[config.kind]}: ${plan.steps} steps, copy distance ${distance}`);
    runs.push(
      await measureRun({
        name: kindNames[config.kind],
        config,
        vocabSize: task.vocabulary.size,
        data: new TaskStream(task, { batchSize: plan.batchSize, segmentLength: plan.model.segmentLength, seed: 11 }),
        evaluation: {
          name: 'held-out episodes',
          errorRate: true,
          batches: () =>
            take(new TaskStream(task, { batchSize: plan.batchSize, segmentLength: plan.model.segmentLength, seed: 9_999 }), plan.evalBatches),
        },
        profileMemoryEvery: Math.max(1, Math.floor(plan.steps / 4)),
        log: context.log,
      }),
    );
  }
  const rows = runs.map((run) => {
    const final = run.final;
    const accuracy = final?.errorRate === undefined ? undefined : 1 - final.errorRate;
    // Every token of an evaluation batch is read, though only the copies are scored.
    const evalTokensPerSecond =
      final === null || final.seconds <= 0 ? undefined : (final.batches * plan.batchSize * plan.model.segmentLength) / final.seconds;
    const { bpc: _unused, ...row } = modelResultOf(run);
    return {
      ...row,
      ...(accuracy === undefined ? {} : { accuracy }),
      ...(evalTokensPerSecond === undefined ? {} : { evalTokensPerSecond }),
    };
  });
  const labelled = runs[0]?.final?.labelled ?? 0;
  return {
    config: {
      task: { name: task.name, ...plan.task, episodeLength: task.episodeLength, copyDistance: distance },
      plan,
      models: Object.fromEntries(configs.map((config) => [kindNames[config.kind], { model: config.model, memory: config.memory }])),
    },
    models: rows,
    charts: [
      {
        id: 'accuracy',
        title: 'Copy accuracy on held-out episodes',
        xLabel: 'training step',
        yLabel: 'accuracy on the copied symbols',
        mode: 'line',
        series: runs.map((run) => ({
          name: run.name,
          points: run.evaluations.filter((point) => point.errorRate !== undefined).map((point) => [point.step, 1 - (point.errorRate ?? 0)]),
        })),
      },
      lossChart('learning-curves', 'Learning curves (loss on the copied symbols)', runs),
      memoryChart('memory', runs),
    ],
    claims: longRangeClaims(rows, plan.task.alphabetSize, labelled, distance),
    notes: [
      `Expire-Span and Adaptive-Span start with spans of about ${reach} tokens (past the copy distance ${distance}); ` +
        'Transformer-XL and the Compressive Transformer read the same number of slots throughout.',
      `Episodes: <start>, ${plan.task.payloadLength} symbols of ${plan.task.alphabetSize}, ${plan.task.delay} distractors, <marker>, the symbols again; ` +
        `only the copy is scored. Accuracy is measured on ${labelled} copied symbols of held-out episodes (another seed).`,
      ...rows.map(
        (row) =>
          `${row.name}: accuracy ${formatNumber((row.accuracy ?? 0) * 100, 1)}%, temporal range ${row.temporalRange ?? '?'} tokens, ` +
          `mean memory ${formatNumber(row.meanMemorySlots ?? 0, 1)} slots per layer.`,
      ),
    ],
  };
}
