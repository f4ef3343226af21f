// Suite `long-range`: one task per claimed mechanism (copy past a long delay, topic recall, variable tracking) at matched memory budgets; accuracy against chance, memory kept, and Expire-Span's learned spans.
import * as tf from '@tensorflow/tfjs';
import {
  TaskStream,
  createCopyTask,
  createObjectCollisionTask,
  createTopicRecallTask,
  createVariableTrackingTask,
  type LongRangeTask,
  type TokenBatch,
} from '@engram/datasets';
import { disposeState } from '@engram/memory';
import type { MemoryTransformer } from '@engram/model';
import { measureRun, type BuiltInKind, type RunMeasurement } from '../measure.js';
import type { BenchMode, Chart, Claim, ModelResult } from '../results.js';
import type { SuiteContext, SuiteOutput } from '../runner.js';
import { summarize } from '../stats.js';
import { aggregateSeeds, benchConfig, formatNumber, kindNames, lossChart, mean, meanCurve, modelResultOf, seedValues, sources } from './shared.js';

interface Plan {
  model: { modelDim: number; numHeads: number; numLayers: number; feedForwardDim: number; segmentLength: number };
  /** Memory budget M: slots read per query by Transformer-XL and by the Compressive Transformer (M/2 + M/2). */
  memory: number;
  copy: { payloadLength: number; delay: number; alphabetSize: number; distractorAlphabetSize: number };
  topics: { topics: number; symbolsPerTopic: number; blockLength: number; purity: number; delay: number; distractorAlphabetSize: number };
  variables: { variables: number; modulus: number; statements: number };
  collision: { gridSize: number; particles: number; colours: number; steps: number; minimumAnswerAge: number; questionProbability: number };
  /** Expire-Span's span loss weight on the tasks: large enough that forgetting the distractors pays. */
  expireAlpha: number;
  /** Compression rate of the Compressive Transformer in the topic task (its compressed range must cover the block). */
  topicCompressionRate: number;
  batchSize: number;
  steps: number;
  seeds: number[];
  evalEvery: number;
  evalBatches: number;
  learningRate: number;
}

const model64 = { modelDim: 64, numHeads: 4, numLayers: 2, feedForwardDim: 128, segmentLength: 16 };
/**
 * Copy across 60 tokens (Transformer-XL at 8 slots reaches at most 2 x 8 + 15 = 31); topics: the block lies 30-45
 * tokens back, beyond that reach but inside one layer's compressed range (4 + 4 x 8 = 36 past the segment).
 * The streams stagger their rows (`stagger`), so every training step holds some answers.
 */
const quickTasks = {
  copy: { payloadLength: 3, delay: 56, alphabetSize: 4, distractorAlphabetSize: 2 },
  topics: { topics: 4, symbolsPerTopic: 2, blockLength: 16, purity: 0.6, delay: 29, distractorAlphabetSize: 2 },
  variables: { variables: 3, modulus: 5, statements: 16 },
  collision: { gridSize: 4, particles: 2, colours: 4, steps: 16, minimumAnswerAge: 5, questionProbability: 1 },
  // Tuned on the quick copy task (seed 2, 100 steps): 1e-4 kept 72 slots; 1e-2 copied 100% with 64 on average
  // (56 at the end); 1e-1 and 1 kept as many (61-66) and copied 32%. Checked again at 250 steps (seed 2, slots mean /
  // end): 3e-3 copied 100% with 53 / 40, 1e-2 100% with 55 / 48, 3e-2 100% with 55 / 48; at 400 steps 3e-3 and
  // 1e-2 copied 100% with 45 / 32 and 3e-2 87% with 43 / 32. So 1e-2 stays: memory shrinks with training, not with
  // the weight, at this length, and 3e-2 already starts to forget the payload.
  expireAlpha: 1e-2,
} as const;

/** Step and seed counts are parameters: raise them as training gets faster. */
export const longRangePlans: Record<BenchMode, Plan> = {
  'tiny-test': {
    model: { modelDim: 32, numHeads: 2, numLayers: 2, feedForwardDim: 64, segmentLength: 8 },
    memory: 8,
    copy: { payloadLength: 2, delay: 24, alphabetSize: 4, distractorAlphabetSize: 2 },
    topics: { topics: 2, symbolsPerTopic: 2, blockLength: 8, purity: 0.8, delay: 24, distractorAlphabetSize: 2 },
    variables: { variables: 2, modulus: 3, statements: 8 },
    collision: { gridSize: 2, particles: 2, colours: 4, steps: 8, minimumAnswerAge: 1, questionProbability: 1 },
    expireAlpha: 1e-2,
    topicCompressionRate: 4,
    batchSize: 2,
    steps: 3,
    seeds: [2],
    evalEvery: 0,
    evalBatches: 12,
    learningRate: 3e-3,
  },
  quick: {
    model: model64,
    memory: 8,
    ...quickTasks,
    topicCompressionRate: 8,
    batchSize: 32,
    steps: 250,
    // Three seeds, as at full length: the pooled answers tighten the chance bound, and one seed cannot decide a row.
    seeds: [2, 3, 4],
    evalEvery: 50,
    evalBatches: 8,
    learningRate: 3e-3,
  },
  full: {
    model: model64,
    memory: 8,
    ...quickTasks,
    topicCompressionRate: 8,
    // At 3,000 steps 1e-2 forgot the payload with the distractors (copy at chance); 1e-3 (the sweep at a82d898, 3
    // seeds) kept payload spans of 23 tokens against 0 for distractors and copied 61.5% with 28 slots.
    expireAlpha: 1e-3,
    batchSize: 32,
    steps: 3000,
    seeds: [2, 3, 4],
    evalEvery: 250,
    evalBatches: 60,
    learningRate: 3e-3,
  },
};

/** One run of a task: a method, its memory settings, and a display name. */
export interface Entry {
  name: string;
  kind: BuiltInKind;
  memory: Record<string, unknown>;
}

/**
 * Copy task: Transformer-XL and the Compressive Transformer read M slots; Expire-Span and Adaptive-Span
 * start with spans past the copy distance (`reach`) and learn from there, a span loss pulling them down
 * (Expire-Span's weight `expireAlpha` is far above the language-modelling one so forgetting pays); their memory is measured,
 * and a second Transformer-XL gets Expire-Span's measured mean memory (`matched`).
 */
export function copyEntries(memory: number, reach: number, expireAlpha = 1e-2): Entry[] {
  const ramp = Math.max(2, memory / 2);
  const maxSpan = 16 * memory;
  return [
    { name: kindNames.txl, kind: 'txl', memory: { memoryLength: memory } },
    {
      name: kindNames.compressive,
      kind: 'compressive',
      memory: { memoryLength: memory / 2, compressedLength: memory / 2, compressionRate: 4, compressor: 'conv', training: 'attention-reconstruction' },
    },
    { name: kindNames['expire-span'], kind: 'expire-span', memory: { maxSpan, ramp, initFraction: Math.min(0.9, reach / maxSpan), alpha: expireAlpha } },
    {
      name: kindNames['adaptive-span'],
      kind: 'adaptive-span',
      memory: { maxSpan, ramp, buffer: ramp, initFraction: Math.min(1, reach / maxSpan), alpha: 5e-7 },
    },
  ];
}

function* take(stream: TaskStream, count: number): Generator<TokenBatch> {
  for (let index = 0; index < count; index++) yield stream.next();
}

/** Accuracy that chance would not reach: 3 binomial standard errors above 1/A over `labelled` answers. */
export function chanceBound(alphabetSize: number, labelled: number): { chance: number; bound: number } {
  const chance = 1 / alphabetSize;
  return { chance, bound: chance + 3 * Math.sqrt((chance * (1 - chance)) / Math.max(1, labelled)) };
}

/** What a long-range claim needs to know of a task. */
export interface TaskFacts {
  /** Display name of the task, e.g. `copy across 36 tokens`. */
  label: string;
  /** Answers of one class: chance is 1/choices. */
  choices: number;
  /** Answers scored over all seeds (for the binomial bound). */
  labelled: number;
  /** Tokens between the evidence and the answer. */
  distance: number;
}

const percent = (value: number) => `${formatNumber(value * 100, 1)}%`;

function accuracyOf(row: ModelResult): number {
  return mean(seedValues(row, 'accuracy'));
}

/** Whether `row` answers above chance and above `baseline` (by the same margin). */
function remembers(row: ModelResult, baseline: ModelResult, facts: TaskFacts): boolean {
  const { chance, bound } = chanceBound(facts.choices, facts.labelled);
  return accuracyOf(row) > bound && accuracyOf(row) > accuracyOf(baseline) + (bound - chance);
}

/**
 * Expire-Span's claim on the copy task: it copies from `distance` tokens back (above chance) while keeping
 * on average no more memory than Transformer-XL with the same number of slots, and that Transformer-XL stays
 * at chance. `matched` is the Transformer-XL given Expire-Span's measured mean memory.
 */
export function copyClaims(rows: readonly ModelResult[], matched: ModelResult, matchedSlots: number, facts: TaskFacts): Claim[] {
  const { chance, bound } = chanceBound(facts.choices, facts.labelled);
  const txl = rows.find((row) => row.kind === 'txl' && row !== matched);
  const expire = rows.find((row) => row.kind === 'expire-span');
  const claims: Claim[] = [];
  const chanceText = `chance ${percent(chance)}, not chance above ${percent(bound)} (3 binomial standard errors over ${facts.labelled} answers)`;
  if (txl !== undefined) {
    claims.push({
      claim: `Transformer-XL cannot ${facts.label}: the evidence lies beyond its temporal range (${txl.temporalRange ?? '?'} tokens).`,
      source: sources.compressive,
      outcome: accuracyOf(txl) <= bound ? 'reproduced' : 'not reproduced',
      evidence: `Transformer-XL ${percent(accuracyOf(txl))}; ${chanceText}.`,
    });
  }
  if (expire !== undefined) {
    const slots = expire.meanMemorySlots ?? Number.POSITIVE_INFINITY;
    const finalSlots = expire.finalMemorySlots ?? Number.POSITIVE_INFINITY;
    // "Far smaller": at most half the distance, on average over training and at the end.
    const small = slots <= facts.distance / 2 && finalSlots <= facts.distance / 2;
    const aboveChance = accuracyOf(expire) > bound;
    const matchedRemembers = accuracyOf(matched) > bound;
    const expireRemembers = remembers(expire, matched, facts) && !matchedRemembers;
    const why = !aboveChance
      ? ': it does not remember at this training length.'
      : matchedRemembers
        ? `: Transformer-XL with as many slots remembers too, so the memory size explains it, not what Expire-Span forgets.`
        : !expireRemembers
          ? ': it is not above the matched Transformer-XL by the margin.'
          : small
            ? '.'
            : `: it remembers, but holds ${formatNumber(slots, 1)} slots on average (${formatNumber(finalSlots, 1)} at the end), not at most half the distance.`;
    claims.push({
      claim:
        `Expire-Span can ${facts.label} with a memory at most half the distance, where Transformer-XL with as many memory slots ` +
        `(${matchedSlots}) cannot.`,
      source: sources.expireSpan,
      outcome: expireRemembers && small ? 'reproduced' : 'not reproduced',
      evidence:
        `Expire-Span ${percent(accuracyOf(expire))} with ${formatNumber(slots, 1)} slots per layer on average (${formatNumber(expire.finalMemorySlots ?? Number.NaN, 1)} at the end), ` +
        `Transformer-XL with ${matchedSlots} slots ${percent(accuracyOf(matched))}; distance ${facts.distance} tokens; ${chanceText}${why}`,
    });
  }
  return claims;
}

/**
 * A "remembers" verdict per method against a Transformer-XL baseline of the same attention cost: the method
 * must beat chance and the baseline by 3 binomial standard errors.
 */
export function remembersClaims(
  rows: readonly ModelResult[],
  baseline: ModelResult,
  facts: TaskFacts,
  methods: readonly string[],
  /** `chance`: the baseline must stay at chance (the evidence is out of its reach); `better`: the method need only beat it. */
  against: 'chance' | 'better' = 'chance',
): Claim[] {
  const { chance, bound } = chanceBound(facts.choices, facts.labelled);
  const slots = formatNumber(baseline.meanMemorySlots ?? Number.NaN, 0);
  return rows
    .filter((row) => methods.includes(row.name))
    .map((row) => ({
      claim:
        against === 'chance'
          ? `${row.name} can ${facts.label} where Transformer-XL at the same attention cost (${slots} slots) cannot.`
          : `${row.name} can ${facts.label} more accurately than Transformer-XL at the same attention cost (${slots} slots).`,
      source: row.kind === 'compressive' ? sources.compressive : sources.expireSpan,
      outcome:
        remembers(row, baseline, facts) && (against === 'better' || accuracyOf(baseline) <= bound) ? ('reproduced' as const) : ('not reproduced' as const),
      evidence:
        `${row.name} ${percent(accuracyOf(row))} (${formatNumber(row.meanMemorySlots ?? Number.NaN, 1)} slots per layer on average) against Transformer-XL's ` +
        `${percent(accuracyOf(baseline))}; chance ${percent(chance)}, not chance above ${percent(bound)} over ${facts.labelled} answers.`,
    }));
}

/**
 * The mean predicted span of the memories Expire-Span holds, by token class, per layer: `ids` (one row) are
 * fed segment by segment in evaluation mode; every memory slot's span (under the trained weights) is read
 * once, at the first step it is held, and averaged per class of its token (`classOf`).
 */
export function spansByClass(
  model: MemoryTransformer,
  ids: Int32Array,
  classOf: (id: number) => string | null,
): Record<string, number> {
  const policy = model.policy as unknown as { predictSpans?: (layer: number, hidden: tf.Tensor3D) => tf.Tensor2D };
  if (model.policy.kind !== 'expire-span' || typeof policy.predictSpans !== 'function') return {};
  const predict = policy.predictSpans.bind(policy);
  const segmentLength = model.config.segmentLength;
  const sums = new Map<string, { total: number; count: number }>();
  const moments = new Map<string, { count: number; sum: number; squares: number }>();
  const seen = Array.from({ length: model.config.numLayers }, () => new Set<number>());
  let state = model.initialState(1);
  try {
    for (let start = 0; start + segmentLength <= ids.length; start += segmentLength) {
      const inputs = tf.tensor2d(ids.subarray(start, start + segmentLength), [1, segmentLength], 'int32');
      try {
        const result = model.forward(inputs, state, { training: false });
        result.logits.dispose();
        state = result.state;
      } finally {
        inputs.dispose();
      }
      state.layers.forEach((memory, layer) => {
        if (memory.hidden === null || memory.positions === null) return;
        const spans = tf.tidy(() => predict(layer, memory.hidden as tf.Tensor3D));
        const values = spans.dataSync();
        spans.dispose();
        const positions = memory.positions.dataSync();
        positions.forEach((position, slot) => {
          if (seen[layer]?.has(position) === true) return;
          seen[layer]?.add(position);
          const kind = classOf(ids[position] ?? -1);
          if (kind === null) return;
          const key = `${kind}.layer${layer}`;
          const entry = sums.get(key) ?? { total: 0, count: 0 };
          entry.total += values[slot] ?? 0;
          entry.count += 1;
          sums.set(key, entry);
          const pooled = moments.get(kind) ?? { count: 0, sum: 0, squares: 0 };
          pooled.count += 1;
          pooled.sum += values[slot] ?? 0;
          pooled.squares += (values[slot] ?? 0) ** 2;
          moments.set(kind, pooled);
        });
      });
    }
  } finally {
    disposeState(state);
  }
  return Object.fromEntries([
    ...[...sums].map(([key, { total, count }]) => [key, total / count]),
    ...[...moments].flatMap(([kind, { count, sum, squares }]) => [
      [`count:${kind}`, count],
      [`sum:${kind}`, sum],
      [`squares:${kind}`, squares],
    ]),
  ]);
}

/**
 * Expire-Span's mechanism on the copy task: the memories of payload tokens get longer predicted spans than those
 * of distractors, by more than 2 standard errors of the difference over all held-out memories of every seed
 * (`inspections` hold the `count:`, `sum:` and `squares:` entries of {@link spansByClass}).
 */
export function spanClaim(inspections: readonly Record<string, number>[]): Claim | null {
  const pooled = (kind: string) => {
    const count = inspections.reduce((total, entry) => total + (entry[`count:${kind}`] ?? 0), 0);
    const sum = inspections.reduce((total, entry) => total + (entry[`sum:${kind}`] ?? 0), 0);
    const squares = inspections.reduce((total, entry) => total + (entry[`squares:${kind}`] ?? 0), 0);
    const average = count > 0 ? sum / count : Number.NaN;
    const variance = count > 1 ? Math.max(0, (squares - count * average * average) / (count - 1)) : Number.NaN;
    return { count, average, variance };
  };
  const payload = pooled('payload');
  const distractor = pooled('distractor');
  if (payload.count < 2 || distractor.count < 2) return null;
  const difference = payload.average - distractor.average;
  const standardError = Math.sqrt(payload.variance / payload.count + distractor.variance / distractor.count);
  // Rounding leaves a tiny spread when every span is equal: treat that as none (then equal spans are "not reproduced", as in stats.ts).
  const flat = standardError <= 1e-6 * Math.max(1, Math.abs(payload.average));
  const z = flat ? (Math.abs(difference) <= 1e-6 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY) : difference / standardError;
  return {
    claim: 'Expire-Span learns to keep what matters: the payload memories get longer spans than the distractors (copy task).',
    source: sources.expireSpan,
    outcome: z > 2 ? 'reproduced' : z < -2 || (flat && z === 0) ? 'not reproduced' : 'inconclusive',
    evidence:
      `Mean predicted span on held-out copy episodes: payload ${formatNumber(payload.average, 1)} tokens over ${payload.count} memories, ` +
      `distractors ${formatNumber(distractor.average, 1)} over ${distractor.count}; difference ${formatNumber(difference, 1)} ± ${formatNumber(standardError, 1)} ` +
      `(standard error over memories, which share episodes, so it is optimistic; z = ${Number.isFinite(z) ? z.toFixed(1) : String(z)}).`,
  };
}

/** The token classes of the copy task whose spans the chart shows. */
function copyClassOf(task: LongRangeTask): (id: number) => string | null {
  return (id) => {
    const name = task.vocabulary.tokens[id] ?? '';
    if (name.startsWith('symbol:')) return 'payload';
    if (name.startsWith('distractor:')) return 'distractor';
    if (name === '<marker>') return 'marker';
    return null;
  };
}

/** Runs the suite. */
export async function runLongRangeSuite(context: SuiteContext): Promise<SuiteOutput> {
  const plan = longRangePlans[context.mode];
  const segment = plan.model.segmentLength;
  const training = {
    steps: plan.steps,
    batchSize: plan.batchSize,
    learningRate: plan.learningRate,
    warmupSteps: Math.min(20, plan.steps),
    evalEvery: plan.evalEvery,
    clipNorm: 0.25,
  };
  const caption = `${plan.steps} steps of ${plan.batchSize} x ${segment} tokens, ${plan.seeds.length} seed${plan.seeds.length === 1 ? '' : 's'} per method` +
    (plan.seeds.length > 1 ? ' (mean; error bars: standard deviation)' : '');

  /** Trains `entry` once per seed on `task`; returns the per-seed runs. */
  const runTask = async (task: LongRangeTask, entry: Entry, inspect?: (model: MemoryTransformer) => Record<string, number>) => {
    const perSeed: RunMeasurement[] = [];
    for (const seed of plan.seeds) {
      const config = benchConfig({ kind: entry.kind, model: { ...plan.model, seed }, memory: entry.memory, training });
      context.log(` ${task.name}: ${entry.name} seed ${seed}, ${plan.steps} steps`);
      perSeed.push(
        await measureRun({
          name: entry.name,
          config,
          vocabSize: task.vocabulary.size,
          data: new TaskStream(task, { batchSize: plan.batchSize, segmentLength: segment, seed: 11 + seed, stagger: true }),
          evaluation: {
            name: 'held-out episodes',
            errorRate: true,
            batches: () => take(new TaskStream(task, { batchSize: plan.batchSize, segmentLength: segment, seed: 9_999, stagger: true }), plan.evalBatches),
          },
          ...(inspect === undefined ? {} : { inspect }),
          profileMemoryEvery: Math.max(1, Math.floor(plan.steps / 4)),
          log: context.log,
          dataIdentity: { task: task.name, parameters: task.parameters, trainSeed: 11 + seed, evalSeed: 9_999, evalBatches: plan.evalBatches, stagger: true },
          ...(context.runCache ? { cache: context.runCache } : {}),
        }),
      );
    }
    return perSeed;
  };
  const rowOfRuns = (runs: readonly RunMeasurement[], task: string): ModelResult =>
    aggregateSeeds(
      runs.map((run) => {
        const final = run.final;
        const { bpc: _bpc, evalTokensPerSecond: _eval, ...row } = modelResultOf(run);
        return {
          ...row,
          ...(final?.errorRate === undefined ? {} : { accuracy: 1 - final.errorRate }),
          extra: { task },
        };
      }),
    );
  const labelledOf = (runs: readonly RunMeasurement[]) => runs.reduce((sum, run) => sum + (run.final?.labelled ?? 0), 0);
  const accuracyChart = (id: string, title: string, runs: ReadonlyMap<string, RunMeasurement[]>, chance: number): Chart => ({
    id,
    title,
    xLabel: 'training step',
    yLabel: 'accuracy on the scored answers (share)',
    mode: 'line',
    series: [...runs].map(([name, perSeed]) =>
      meanCurve(
        name,
        perSeed.map((run) => run.evaluations.filter((point) => point.errorRate !== undefined).map((point) => [point.step, 1 - (point.errorRate ?? 0)] as [number, number])),
      ),
    ),
    referenceLines: [{ value: chance, label: `chance ${percent(chance)}` }],
    caption,
  });

  // Task 1: copy past a delay (Expire-Span: remember a few tokens far back with a small memory).
  const copy = createCopyTask(plan.copy);
  const copyDistance = plan.copy.payloadLength + plan.copy.delay + 1;
  const reach = Math.ceil((copyDistance + segment) / segment) * segment;
  const copyRuns = new Map<string, RunMeasurement[]>();
  const spanTokens = new TaskStream(copy, { batchSize: 1, segmentLength: copy.episodeLength * 4, seed: 7_777 }).next().inputs;
  for (const entry of copyEntries(plan.memory, reach, plan.expireAlpha)) {
    copyRuns.set(
      entry.name,
      await runTask(copy, entry, entry.kind === 'expire-span' ? (model) => spansByClass(model, spanTokens, copyClassOf(copy)) : undefined),
    );
  }
  const expireCopy = copyRuns.get(kindNames['expire-span']) ?? [];
  const expireMeanMemory = mean(expireCopy.map((run) => mean(run.meanMemorySlotsPerLayer ?? [])));
  const matchedSlots = Math.max(1, Math.round(expireMeanMemory));
  const matchedName = `Transformer-XL (${matchedSlots} slots, as Expire-Span)`;
  copyRuns.set(matchedName, await runTask(copy, { name: matchedName, kind: 'txl', memory: { memoryLength: matchedSlots } }));
  const copyRows = [...copyRuns].map(([, runs]) => rowOfRuns(runs, 'copy'));
  const matchedRow = copyRows.find((row) => row.name === matchedName) as ModelResult;
  const copyFacts: TaskFacts = {
    label: `copy ${plan.copy.payloadLength} symbols across ${copyDistance} tokens`,
    choices: plan.copy.alphabetSize,
    labelled: labelledOf(copyRuns.get(kindNames.txl) ?? []),
    distance: copyDistance,
  };

  // Task 2: topic recall (Compressive: a coarse summary of a block beyond the regular memory).
  const topics = createTopicRecallTask(plan.topics);
  const topicRuns = new Map<string, RunMeasurement[]>();
  const topicEntries: Entry[] = [
    { name: kindNames.txl, kind: 'txl', memory: { memoryLength: plan.memory } },
    {
      name: kindNames.compressive,
      kind: 'compressive',
      memory: {
        memoryLength: plan.memory / 2,
        compressedLength: plan.memory / 2,
        compressionRate: plan.topicCompressionRate,
        compressor: 'conv',
        training: 'attention-reconstruction',
      },
    },
  ];
  for (const entry of topicEntries) topicRuns.set(entry.name, await runTask(topics, entry));
  const topicRows = [...topicRuns].map(([, runs]) => rowOfRuns(runs, 'topics'));
  const topicFacts: TaskFacts = {
    label: `recall which of ${plan.topics.topics} topics a block ${plan.topics.delay + 1} to ${plan.topics.blockLength + plan.topics.delay} tokens back had`,
    choices: plan.topics.topics,
    labelled: labelledOf(topicRuns.get(kindNames.txl) ?? []),
    distance: plan.topics.delay + 1,
  };

  // Task 3: variable tracking (every method at the copy task's settings).
  const variables = createVariableTrackingTask(plan.variables);
  const variableRuns = new Map<string, RunMeasurement[]>();
  for (const entry of copyEntries(plan.memory, reach, plan.expireAlpha).filter((candidate) => candidate.kind !== 'adaptive-span')) {
    variableRuns.set(entry.name, await runTask(variables, entry));
  }
  const variableRows = [...variableRuns].map(([, runs]) => rowOfRuns(runs, 'variables'));
  const variableFacts: TaskFacts = {
    label: `track ${plan.variables.variables} variables over ${plan.variables.statements}-statement programs (values mod ${plan.variables.modulus})`,
    choices: plan.variables.modulus,
    labelled: labelledOf(variableRuns.get(kindNames.txl) ?? []),
    distance: variables.episodeLength,
  };

  // Task 4: object collision (Expire-Span: where two colours last met, many observations back), Transformer-XL at
  // M slots, Expire-Span learning its memory, and a Transformer-XL with Expire-Span's measured mean memory.
  const collision = createObjectCollisionTask(plan.collision);
  const collisionDistance = plan.collision.minimumAnswerAge * (2 * plan.collision.particles + 3);
  const collisionReach = Math.ceil((2 * collisionDistance + segment) / segment) * segment;
  const collisionRuns = new Map<string, RunMeasurement[]>();
  for (const entry of copyEntries(plan.memory, collisionReach, plan.expireAlpha).filter((candidate) => candidate.kind === 'txl' || candidate.kind === 'expire-span')) {
    collisionRuns.set(entry.name, await runTask(collision, entry));
  }
  const collisionMatchedSlots = Math.max(
    1,
    Math.round(mean((collisionRuns.get(kindNames['expire-span']) ?? []).map((run) => mean(run.meanMemorySlotsPerLayer ?? [])))),
  );
  const collisionMatchedName = `Transformer-XL (${collisionMatchedSlots} slots, as Expire-Span)`;
  collisionRuns.set(
    collisionMatchedName,
    await runTask(collision, { name: collisionMatchedName, kind: 'txl', memory: { memoryLength: collisionMatchedSlots } }),
  );
  const collisionRows = [...collisionRuns].map(([, runs]) => rowOfRuns(runs, 'collision'));
  const collisionFacts: TaskFacts = {
    label: `answer where two colours last collided, at least ${collisionDistance} tokens back`,
    choices: 4,
    labelled: labelledOf(collisionRuns.get(kindNames.txl) ?? []),
    distance: collisionDistance,
  };

  const rename = (rows: ModelResult[], task: string) => rows.map((row) => ({ ...row, name: `${row.name} [${task}]` }));
  const mechanism = spanClaim(expireCopy.map((run) => run.inspection));
  const claims: Claim[] = [
    ...copyClaims(copyRows, matchedRow, matchedSlots, copyFacts),
    ...(mechanism === null ? [] : [mechanism]),
    ...copyClaims(collisionRows, collisionRows.find((row) => row.name === collisionMatchedName) as ModelResult, collisionMatchedSlots, collisionFacts),
    // Adaptive-Span's memory is learned too (and not the subject of a claim here): its accuracy and memory are in the table.
    ...remembersClaims(copyRows, copyRows.find((row) => row.name === kindNames.txl) as ModelResult, copyFacts, [kindNames.compressive]),
    ...remembersClaims(topicRows, topicRows.find((row) => row.name === kindNames.txl) as ModelResult, topicFacts, [kindNames.compressive]),
    // Only the Compressive Transformer is at Transformer-XL's attention cost here; Expire-Span's learned memory is in the table.
    ...remembersClaims(variableRows, variableRows.find((row) => row.name === kindNames.txl) as ModelResult, variableFacts, [kindNames.compressive], 'better'),
  ];

  // Expire-Span's learned spans on held-out copy episodes, by token class and layer.
  const spanClasses = ['payload', 'distractor', 'marker'];
  const spanSeries = spanClasses.map((kind) => {
    const perLayer = Array.from({ length: plan.model.numLayers }, (_, layer) =>
      expireCopy.map((run) => run.inspection[`${kind}.layer${layer}`]).filter((value): value is number => value !== undefined),
    );
    return {
      name: kind,
      points: perLayer.flatMap((values, layer) => (values.length === 0 ? [] : [[layer, summarize(values).mean] as [number, number]])),
      errors: perLayer.flatMap((values) => (values.length === 0 ? [] : [values.length > 1 ? summarize(values).stdDev : 0])),
    };
  });
  const describeSpans = spanClasses
    .map((kind) => {
      const values = expireCopy.flatMap((run) => Object.entries(run.inspection).filter(([key]) => key.startsWith(`${kind}.`)).map(([, value]) => value));
      return values.length === 0 ? null : `${kind} ${formatNumber(mean(values), 1)}`;
    })
    .filter((text) => text !== null)
    .join(', ');

  return {
    config: {
      tasks: {
        copy: { ...plan.copy, episodeLength: copy.episodeLength, copyDistance },
        topics: { ...plan.topics, episodeLength: topics.episodeLength, compressionRate: plan.topicCompressionRate },
        variables: { ...plan.variables, episodeLength: variables.episodeLength },
        collision: { ...plan.collision, episodeLength: collision.episodeLength, minimumDistance: collisionDistance },
      },
      plan,
      budget: `Transformer-XL ${plan.memory} slots; Compressive ${plan.memory / 2} + ${plan.memory / 2} compressed; a second Transformer-XL with Expire-Span's measured mean memory (${matchedSlots})`,
      memory: {
        copy: Object.fromEntries([...copyEntries(plan.memory, reach, plan.expireAlpha), { name: matchedName, memory: { memoryLength: matchedSlots } }].map((entry) => [entry.name, entry.memory])),
        topics: Object.fromEntries(topicEntries.map((entry) => [entry.name, entry.memory])),
        collision: { matchedTransformerXL: { memoryLength: collisionMatchedSlots } },
      },
    },
    models: [...rename(copyRows, 'copy'), ...rename(topicRows, 'topics'), ...rename(variableRows, 'variables'), ...rename(collisionRows, 'collision')],
    charts: [
      accuracyChart('copy-accuracy', `Copy across ${copyDistance} tokens: accuracy on held-out episodes`, copyRuns, 1 / plan.copy.alphabetSize),
      accuracyChart('topics-accuracy', 'Topic recall: accuracy on held-out episodes', topicRuns, 1 / plan.topics.topics),
      accuracyChart('variables-accuracy', 'Variable tracking: accuracy on held-out programs', variableRuns, 1 / plan.variables.modulus),
      accuracyChart('collision-accuracy', 'Object collision: accuracy on held-out episodes', collisionRuns, 1 / 4),
      {
        id: 'final-accuracy',
        title: 'Final accuracy by task and method',
        xLabel: 'task',
        yLabel: 'accuracy on the scored answers (share)',
        mode: 'bar',
        categories: ['copy', 'topics', 'variables', 'collision'],
        series: [kindNames.txl, kindNames.compressive, kindNames['expire-span'], kindNames['adaptive-span']].map((name) => {
          const picked = [copyRows, topicRows, variableRows, collisionRows].map((rows) => rows.find((row) => row.name === name));
          return {
            name,
            points: picked.flatMap((row, index) => (row === undefined ? [] : [[index, accuracyOf(row)] as [number, number]])),
            errors: picked.flatMap((row) =>
              row === undefined ? [] : [seedValues(row, 'accuracy').length > 1 ? summarize(seedValues(row, 'accuracy')).stdDev : 0],
            ),
          };
        }),
        caption: `${caption}; chance: copy ${percent(1 / plan.copy.alphabetSize)}, topics ${percent(1 / plan.topics.topics)}, variables ${percent(1 / plan.variables.modulus)}, collision 25.0%`,
      },
      {
        id: 'expire-spans',
        title: "Expire-Span's learned spans on held-out copy episodes",
        xLabel: 'layer',
        yLabel: 'mean predicted span of the memories held (tokens)',
        mode: 'bar',
        categories: Array.from({ length: plan.model.numLayers }, (_, layer) => `layer ${layer}`),
        series: spanSeries,
        referenceLines: [{ value: copyDistance, label: `copy distance ${copyDistance}` }],
        caption,
      },
      {
        id: 'copy-memory',
        title: 'Copy task: memory slots read per layer over training',
        xLabel: 'training step',
        yLabel: 'memory slots read per layer (mean over layers)',
        mode: 'line',
        series: [...copyRuns].map(([name, runs]) => {
          const { errors: _errors, ...series } = meanCurve(name, runs.map((run) => run.steps.map((point) => [point.step, point.memorySlots] as [number, number])));
          return series;
        }),
        referenceLines: [{ value: copyDistance, label: `copy distance ${copyDistance}` }],
        caption,
      },
      { ...lossChart('copy-learning-curves', 'Copy task: learning curves (loss on the copied symbols, first seed)', [...copyRuns].map(([, runs]) => runs[0] as RunMeasurement)), caption },
    ],
    claims,
    notes: [
      `Budgets: Transformer-XL reads ${plan.memory} slots per layer, the Compressive Transformer ${plan.memory / 2} regular + ${plan.memory / 2} compressed (the same attention cost). ` +
        `Expire-Span and Adaptive-Span start with spans of about ${reach} tokens (past the copy distance ${copyDistance}) and learn their memory; ` +
        `Expire-Span then kept ${formatNumber(expireMeanMemory, 1)} slots per layer on average, and "Transformer-XL (${matchedSlots} slots, as Expire-Span)" is a second Transformer-XL ` +
        'trained with that many slots: the fair comparison for "remembers far with a small memory".',
      `Copy: <start>, ${plan.copy.payloadLength} symbols of ${plan.copy.alphabetSize}, ${plan.copy.delay} distractors, <marker>, the symbols again; only the copy is scored.`,
      `Collision: ${plan.collision.particles} particles on a ${plan.collision.gridSize} x ${plan.collision.gridSize} grid for ${plan.collision.steps} steps (${collision.episodeLength} tokens); ` +
        `a question asks in which quadrant two colours last collided, at least ${collisionDistance} tokens back (chance 25%). Expire-Span (span loss weight ${plan.expireAlpha}) against ` +
        `Transformer-XL at ${plan.memory} slots and a Transformer-XL with Expire-Span's measured mean memory (${collisionMatchedSlots} slots).`,
      `Expire-Span's claim needs its mean memory over training and its memory at the end to be at most half the distance ("far smaller"), and a Transformer-XL with as many slots to stay at chance.`,
      `Topics: a block of ${plan.topics.blockLength} symbols from one of ${plan.topics.topics} topics (share ${plan.topics.purity} from the topic's own symbols), ${plan.topics.delay} distractors, ` +
        `then the question; the Compressive Transformer compresses at rate ${plan.topicCompressionRate}, so its reach is ${plan.model.numLayers} x (${plan.memory / 2} + ${plan.topicCompressionRate} x ${plan.memory / 2}) tokens.`,
      `Variables: ${(variables.describeLayout().split('\n')[0] ?? '').replace(/:$/, '')}; the printed values are scored. Prints close to the ` +
        "variable's last change are within Transformer-XL's reach, so the claim there is accuracy above Transformer-XL's, not Transformer-XL at chance.",
      `Accuracy is measured on held-out episodes (another seed); a method "remembers" when it beats chance and the Transformer-XL baseline by 3 binomial standard errors over all its scored answers (${plan.seeds.length} seed${plan.seeds.length === 1 ? '' : 's'}).`,
      describeSpans === ''
        ? 'No Expire-Span spans were recorded.'
        : `Expire-Span's mean learned span by token class (held-out copy episodes, tokens): ${describeSpans}. The claimed mechanism is long spans for the payload, short ones for the distractors.`,
    ],
  };
}
