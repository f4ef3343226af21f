// The JSON schema of bench-results/<suite>.json (zod), and the machine description every result carries.
import { cpus, platform, arch, totalmem, release } from 'node:os';
import { z } from 'zod';

export const suiteNames = ['lm', 'long-range', 'compressors', 'speed'] as const;
export type SuiteName = (typeof suiteNames)[number];

/** How long a run is: `quick` (the default, all suites within 15 minutes on 2 cores), `full`, or `tiny-test` (seconds; tests). */
export const benchModes = ['quick', 'full', 'tiny-test'] as const;
export type BenchMode = (typeof benchModes)[number];

const finite = z.number().finite();
const nonNegative = z.number().finite().nonnegative();

/** One model's measurements. Fields that do not apply to a suite are absent (never zero-filled). */
export const modelResultSchema = z.object({
  /** Display name, unique within the suite, e.g. `Expire-Span` or `conv / attention-reconstruction`. */
  name: z.string().min(1),
  /** Memory method: `txl`, `compressive`, `expire-span` or `adaptive-span`. */
  kind: z.string().min(1),
  /** Trainable parameters (model + memory policy). */
  parameters: z.number().int().nonnegative(),
  /** Bits per character on the validation split (one in-order pass, memory carried). */
  bpc: finite.optional(),
  /** Accuracy on labelled positions (long-range tasks), in [0, 1]. */
  accuracy: z.number().min(0).max(1).optional(),
  /** Peak bytes held by live tensors, sampled during training (`tf.memory().numBytes`). */
  peakBytes: nonNegative.optional(),
  /**
   * Largest resident set size of the process sampled during this model's training. The wasm heap never
   * shrinks, so a model run after a larger one inherits its high-water mark: compare peakBytes instead.
   */
  peakRssBytes: nonNegative.optional(),
  /** Median milliseconds per training batch (after warm-up batches). */
  msPerBatch: nonNegative.optional(),
  trainTokensPerSecond: nonNegative.optional(),
  /**
   * Every timed step's milliseconds, in order. In the speed suite, index i of every row at a shape was taken in the
   * same round (one step of each model and kernel set, round-robin), so two rows pair step by step.
   */
  stepMilliseconds: z.array(nonNegative).optional(),
  evalTokensPerSecond: nonNegative.optional(),
  /** Largest distance information can travel through memory (SPEC 3), in tokens. */
  temporalRange: nonNegative.optional(),
  /** Memory slots attention reads, averaged over layers and the training steps. */
  meanMemorySlots: nonNegative.optional(),
  /** Memory slots per layer (mean over layers) kept after the last training step. */
  finalMemorySlots: nonNegative.optional(),
  /** Bits per character on the test split (one in-order pass, memory carried), where a suite measures it. */
  testBpc: finite.optional(),
  /** Seeds this row averages: its numeric fields are means over the seeds. */
  seeds: z.number().int().positive().optional(),
  /** The per-seed values behind the means, by field name (e.g. `bpc: [3.21, 3.19, 3.24]`). */
  perSeed: z.record(z.string(), z.array(finite)).optional(),
  /** The same per layer. */
  meanMemorySlotsPerLayer: z.array(nonNegative).optional(),
  /** Training steps run. */
  steps: z.number().int().nonnegative().optional(),
  /** Final training loss (nats, task loss only). */
  finalTrainLoss: finite.optional(),
  /** Free-form measurements specific to a suite (e.g. the speed suite's shape name). */
  extra: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
});
export type ModelResult = z.infer<typeof modelResultSchema>;

/** A per-model series for the charts. In a bar chart x is the index of the category. */
export const seriesSchema = z.object({
  name: z.string(),
  points: z.array(z.tuple([finite, finite])),
  /** Half-width of an error bar per point (standard deviation over seeds), same order as `points`. */
  errors: z.array(nonNegative).optional(),
});
export type Series = z.infer<typeof seriesSchema>;

/** One chart of the report, written as `<suite>-<id>.svg`. */
export const chartSchema = z.object({
  /** File-name part, e.g. `learning-curves`. */
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string(),
  xLabel: z.string(),
  yLabel: z.string(),
  mode: z.enum(['line', 'scatter', 'bar']),
  series: z.array(seriesSchema),
  /** Bar charts: the category names (a point's x is an index into them). */
  categories: z.array(z.string()).optional(),
  /** Bar charts: `vertical` (default) or `horizontal` bars. */
  orientation: z.enum(['vertical', 'horizontal']).optional(),
  /** Dashed horizontal lines, e.g. chance accuracy. */
  referenceLines: z.array(z.object({ value: finite, label: z.string() })).optional(),
  /** Small text under the chart (steps, seeds); the report adds the backend. */
  caption: z.string().optional(),
});
export type Chart = z.infer<typeof chartSchema>;

/** A table of the report beyond the models table (e.g. the speed suite's top kernels). */
export const tableSchema = z.object({
  title: z.string(),
  headers: z.array(z.string()).min(1),
  rows: z.array(z.array(z.string())),
});
export type Table = z.infer<typeof tableSchema>;

/** A paper claim checked against the numbers of this run. */
export const claimSchema = z.object({
  /** The paper's claim in one sentence. */
  claim: z.string(),
  /** Where it comes from, e.g. `Expire-Span (Sukhbaatar et al. 2021)`. */
  source: z.string(),
  outcome: z.enum(['reproduced', 'not reproduced', 'inconclusive']),
  /** The measured numbers that decided the outcome. */
  evidence: z.string(),
});
export type Claim = z.infer<typeof claimSchema>;

export const machineSchema = z.object({
  cpus: z.number().int().positive(),
  cpuModel: z.string(),
  nodeVersion: z.string(),
  platform: z.string(),
  arch: z.string(),
  osRelease: z.string(),
  totalMemoryBytes: nonNegative,
});
export type Machine = z.infer<typeof machineSchema>;

/** The whole file `bench-results/<suite>.json`. */
export const suiteResultSchema = z.object({
  suite: z.enum(suiteNames),
  mode: z.enum(benchModes),
  /** The tensor backend the run used, as reported by `initBackend` of @engram/kernels. */
  backend: z.object({ name: z.string() }).catchall(z.unknown()),
  machine: machineSchema,
  /** Every setting of the run: model shapes, memory settings, steps, batch sizes, data. */
  config: z.record(z.string(), z.unknown()),
  models: z.array(modelResultSchema).min(1),
  /** Chart data (learning curves, memory size over time, bpc against memory), drawn as SVG files. */
  charts: z.array(chartSchema).default([]),
  claims: z.array(claimSchema).default([]),
  /** Further tables, drawn in the Markdown report after the notes. */
  tables: z.array(tableSchema).default([]),
  /** Caveats of this run worth reading next to the numbers. */
  notes: z.array(z.string()).default([]),
  startedAt: z.string(),
  durationSeconds: nonNegative,
});
export type SuiteResult = z.infer<typeof suiteResultSchema>;

/** The machine the bench runs on. */
export function describeMachine(): Machine {
  const processors = cpus();
  return {
    cpus: Math.max(1, processors.length),
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    nodeVersion: process.version,
    platform: platform(),
    arch: arch(),
    osRelease: release(),
    totalMemoryBytes: totalmem(),
  };
}
