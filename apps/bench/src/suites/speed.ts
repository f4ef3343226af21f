// Suite `speed`: ms per training step, tokens/s, peak tensor memory, achieved GFLOP/s and the top kernels of each memory method at two shapes, Engram's wasm kernels (two threads and one) against the stock tfjs kernels in one interleaved run.
import * as tf from '@tensorflow/tfjs';
import {
  fastKernelInstructions,
  fastKernelsActive,
  fastKernelThreads,
  registerFastKernels,
  setFastKernelInstructions,
  setFastKernelThreads,
  tensorBytes,
  unregisterFastKernels,
  type GemmInstructions,
} from '@engram/kernels';
import { createAdam, type MemoryTransformer } from '@engram/model';
import { disposeState, stateTensors, type MemoryState } from '@engram/memory';
import { buildModel, builtInKinds as kinds, type BuiltInKind } from '../measure.js';
import type { BenchMode, Claim, ModelResult } from '../results.js';
import type { SuiteContext, SuiteOutput, SuiteTable } from '../runner.js';
import { memorySettings } from './lm.js';
import { benchConfig, kindNames, mean, sources } from './shared.js';
import { describeRatio, pairedRatio, ratioAtMostClaim } from '../stats.js';

/** One fixed shape. */
export interface SpeedShape {
  name: 'tiny' | 'small';
  batchSize: number;
  segmentLength: number;
  memory: number;
  numLayers: number;
  modelDim: number;
  numHeads: number;
  feedForwardDim: number;
}

/** The two shapes of the issue: tiny (8, 64, 64, 2, 128, 4, 512) and small (16, 128, 128, 4, 256, 4, 1024). */
export const speedShapes: readonly SpeedShape[] = [
  { name: 'tiny', batchSize: 8, segmentLength: 64, memory: 64, numLayers: 2, modelDim: 128, numHeads: 4, feedForwardDim: 512 },
  { name: 'small', batchSize: 16, segmentLength: 128, memory: 128, numLayers: 4, modelDim: 256, numHeads: 4, feedForwardDim: 1024 },
];

/** Scaled-down shapes for the seconds-long test mode (same structure, tiny numbers). */
const testShapes: readonly SpeedShape[] = [
  { name: 'tiny', batchSize: 2, segmentLength: 8, memory: 8, numLayers: 1, modelDim: 16, numHeads: 2, feedForwardDim: 32 },
  { name: 'small', batchSize: 2, segmentLength: 16, memory: 16, numLayers: 2, modelDim: 32, numHeads: 2, feedForwardDim: 64 },
];

/**
 * The kernel sets compared: Engram's wasm kernels (`registerFastKernels`) with the GEMM threads and instruction set
 * the run started with (`engram`: 2 threads on a machine with two cores, relaxed-SIMD FMA where the engine has it),
 * the same kernels on one thread (`engram-1-thread`), the same on the run's threads with the plain SIMD128 GEMM
 * (`engram-simd128`, when the run's GEMM is the relaxed one), and the stock tfjs 4.22 kernels (`stock`, one thread).
 */
export const kernelVariants = ['engram', 'engram-1-thread', 'engram-simd128', 'stock'] as const;
export type KernelVariant = (typeof kernelVariants)[number];

/** One value per kernel set. */
const perVariant = <T>(make: () => T): Record<KernelVariant, T> =>
  Object.fromEntries(kernelVariants.map((variant) => [variant, make()])) as Record<KernelVariant, T>;

interface Counts {
  /** Untimed steps per kernel variant before the timed ones. */
  warmup: number;
  /** Timed steps per kernel variant: rounds of one block per kernel set (engram, engram-1-thread, ..., stock). */
  measured: number;
  /** Memory kinds timed on stock kernels too (Transformer-XL always is, for the speed-up). */
  stockForAllKinds: boolean;
}

export const speedPlans: Record<BenchMode, Record<SpeedShape['name'], Counts>> = {
  'tiny-test': { tiny: { warmup: 1, measured: 2, stockForAllKinds: true }, small: { warmup: 1, measured: 1, stockForAllKinds: false } },
  quick: { tiny: { warmup: 2, measured: 6, stockForAllKinds: true }, small: { warmup: 1, measured: 3, stockForAllKinds: false } },
  full: { tiny: { warmup: 3, measured: 30, stockForAllKinds: true }, small: { warmup: 2, measured: 12, stockForAllKinds: true } },
};

/** Papers' cost targets at the same number of keys per query, as ratios of Transformer-XL's ms per step. */
const costTargets: Partial<Record<BuiltInKind, number>> = { 'expire-span': 1.1, 'adaptive-span': 1.1, compressive: 1.3 };

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** GEMM threads and instruction set of the `engram` variant: what the run started with (set by `runSpeedSuite`). */
let engramThreads = 1;
let engramInstructions: GemmInstructions = 'simd128';

/** Switches the wasm kernels and their GEMM threads; a no-op off wasm (there is nothing to compare there). */
async function useKernels(variant: KernelVariant): Promise<void> {
  if (tf.getBackend() !== 'wasm') return;
  if (variant === 'stock') {
    unregisterFastKernels();
    return;
  }
  registerFastKernels();
  const instructions = variant === 'engram-simd128' ? 'simd128' : engramInstructions;
  if (fastKernelInstructions() !== instructions) await setFastKernelInstructions(instructions);
  const threads = variant === 'engram-1-thread' ? 1 : engramThreads;
  if (fastKernelThreads() !== threads) await setFastKernelThreads(threads);
}

/**
 * Floating-point operations of one matrix-product kernel call, 2 multiply-adds' worth per product term, read off the
 * shapes: `BatchMatMul` / `_FusedMatMul` (2 |C| K) and Engram's per-head attention products, which do the same work
 * as the stock path's batched products without moving the heads (`EngramHeadScores` [B, T, H*d] x [B, K, H*d] ->
 * [B, H, T, K] and `EngramPairScores` (one dot product per pair): 2 |scores| d; `EngramHeadApply` and
 * `EngramHeadApplyTransposed`, weights [B, H, L1, L2] first: 2 |weights| d). Counting only the stock kernel names
 * left the attention products out of Engram's figure but not out of the stock one's. 0 for every other kernel.
 */
export function matmulFlops(kernel: { name: string; inputShapes: number[][]; outputShapes: number[][] }): number {
  const size = tf.util.sizeFromShape;
  const a = kernel.inputShapes[0];
  const c = kernel.outputShapes[0];
  if (!a || !c) return 0;
  switch (kernel.name) {
    case 'BatchMatMul':
    case '_FusedMatMul': {
      if (a.length < 2 || c.length < 2) return 0;
      const rows = c[c.length - 2] as number;
      const inner = size(a) / (size(a.slice(0, -2)) * rows);
      return 2 * size(c) * inner;
    }
    case 'EngramHeadScores':
    case 'EngramPairScores':
      // scores [B, H, T, K]; head width = the queries' last axis / H.
      return c.length === 4 ? (2 * size(c) * (a[a.length - 1] as number)) / (c[1] as number) : 0;
    case 'EngramHeadApply':
    case 'EngramHeadApplyTransposed':
      // weights [B, H, L1, L2]; head width = the output's last axis / H.
      return a.length === 4 ? (2 * size(a) * (c[c.length - 1] as number)) / (a[1] as number) : 0;
    default:
      return 0;
  }
}

/** One profiled step: peak tensor bytes, matmul FLOPs, and kernel time by kernel name. */
interface StepProfile {
  peakBytes: number;
  flops: number;
  kernels: Map<string, { milliseconds: number; calls: number }>;
}

/** Bytes of the tensors' buffers, as `tf.memory().numBytes` counts them. */
const bytesOf = (tensors: readonly tf.Tensor[]): number => tensors.reduce((sum, tensor) => sum + tensorBytes(tensor.shape, tensor.dtype), 0);

/**
 * Profiles one training step of a model that holds `heldBytes` between steps. `tf.profile` reports the engine's
 * whole tensor memory, which also holds the run's other models (their weights, optimizer moments and memories);
 * those are subtracted, so `peakBytes` is this model's own peak: its persistent tensors plus the step's.
 */
export async function profileStep(step: () => void, heldBytes: number): Promise<StepProfile> {
  const othersBytes = tf.memory().numBytes - heldBytes;
  const info = await tf.profile(step);
  const kernels = new Map<string, { milliseconds: number; calls: number }>();
  let flops = 0;
  const backend = tf.getBackend();
  for (const kernel of info.kernels) {
    // tf.profile also lists gradient scopes and custom ops; only registered kernels are leaves.
    if (tf.getKernel(kernel.name, backend) === undefined) continue;
    const time = await kernel.kernelTimeMs;
    const milliseconds = typeof time === 'number' ? time : 0;
    const entry = kernels.get(kernel.name) ?? { milliseconds: 0, calls: 0 };
    entry.milliseconds += milliseconds;
    entry.calls += 1;
    kernels.set(kernel.name, entry);
    flops += matmulFlops(kernel as unknown as { name: string; inputShapes: number[][]; outputShapes: number[][] });
  }
  return { peakBytes: info.peakBytes - othersBytes, flops, kernels };
}

/**
 * The backend's own 2-D matmul rate (GFLOP/s) with the kernels of `variant`: one timed product of two 512 x 512
 * matrices after an untimed one. `runShape` takes one sample per round and reports the median: the ceiling a
 * training step's achieved rate is compared with, under the same load.
 */
export async function matmulRate(variant: KernelVariant, size = 512): Promise<number> {
  await useKernels(variant);
  const a = tf.randomNormal([size, size]);
  const b = tf.randomNormal([size, size]);
  tf.matMul(a, b).dispose();
  const start = performance.now();
  const product = tf.matMul(a, b);
  product.dataSync();
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([a, b, product]);
  return (2 * size ** 3) / seconds / 1e9;
}

interface KindRun {
  kind: BuiltInKind;
  shape: SpeedShape;
  parameters: number;
  meanMemorySlots: number;
  temporalRange: number;
  seconds: Record<KernelVariant, number[]>;
  profiles: Partial<Record<KernelVariant, StepProfile>>;
}

/** One model under test: its training step and what the report needs from it. */
interface Trainee {
  kind: BuiltInKind;
  variants: readonly KernelVariant[];
  step: () => number;
  model: MemoryTransformer;
  slots: () => number;
  /** Bytes of the tensors the trainee keeps between steps: weights, optimizer moments, memory state. */
  heldBytes: () => Promise<number>;
  dispose: () => void;
}

export function trainee(kind: BuiltInKind, shape: SpeedShape, variants: readonly KernelVariant[]): Trainee {
  const config = benchConfig({
    kind,
    model: {
      vocabSize: 256,
      modelDim: shape.modelDim,
      numHeads: shape.numHeads,
      numLayers: shape.numLayers,
      feedForwardDim: shape.feedForwardDim,
      segmentLength: shape.segmentLength,
      seed: 4,
    },
    memory: memorySettings(shape.memory)[kind],
    training: { steps: 1, batchSize: shape.batchSize, learningRate: 1e-3, warmupSteps: 0, evalEvery: 0, clipNorm: 0.25 },
  });
  const model: MemoryTransformer = buildModel(config, 256);
  const optimizer = createAdam({ learningRate: 1e-3 });
  // Policies that train variables of their own (the compressive reconstruction modes) need a second optimizer.
  const separateOptimizer = model.policy.separateVariables().length > 0 ? createAdam({ learningRate: 1e-3 }) : undefined;
  let state: MemoryState = model.initialState(shape.batchSize);
  // Random bytes stand in for text: the step's cost does not depend on the token values.
  let seed = 1;
  const step = (): number => {
    const inputs = tf.randomUniform([shape.batchSize, shape.segmentLength], 0, 256, 'int32', seed++) as tf.Tensor2D;
    const targets = tf.randomUniform([shape.batchSize, shape.segmentLength], 0, 256, 'int32', seed++) as tf.Tensor2D;
    const start = performance.now();
    const result = model.trainStep({ inputs, targets }, state, { optimizer, ...(separateOptimizer ? { separateOptimizer } : {}) }, { clipNorm: 0.25 });
    const seconds = (performance.now() - start) / 1000;
    state = result.state;
    tf.dispose([inputs, targets]);
    return seconds;
  };
  return {
    kind,
    variants,
    step,
    model,
    slots: () => mean(model.policy.telemetry(state).memorySlots),
    heldBytes: async () => {
      let bytes = bytesOf(model.variables()) + bytesOf(stateTensors(state));
      for (const current of separateOptimizer ? [optimizer, separateOptimizer] : [optimizer]) {
        // getWeights lists the moment variables and a fresh iteration count (released here).
        const weights = (await current.getWeights()).map((entry) => entry.tensor);
        bytes += bytesOf(weights.filter((tensor) => tensor instanceof tf.Variable));
        tf.dispose(weights.filter((tensor) => !(tensor instanceof tf.Variable)));
      }
      return bytes;
    },
    dispose: () => {
      optimizer.dispose();
      separateOptimizer?.dispose();
      disposeState(state);
      model.dispose();
    },
  };
}

/**
 * Trains every kind at one shape in rounds. A round runs one block per kernel set (engram, engram-1-thread,
 * engram-simd128, stock): switch to the set once, take one untimed settling step of Transformer-XL after a switch to
 * Engram's kernels (a switch restarts the GEMM worker, and its first products run on fresh shared memory), then one
 * timed step of every kind the plan times on that set, in an order rotated by one kind per round, then one 512^3
 * product. So the ratios between methods compare steps on the same kernels under the same load, no method is always
 * the first after a switch, and the kernel sets still alternate round by round for the speed-ups and the achieved
 * share of the matmul peak. Then one profiled step per kind and variant. Everything is disposed.
 *
 * (Before this layout every step switched the kernel set: a switch back to Engram's kernels restarts the GEMM worker
 * and cost the next `tiny` step 6-10 ms in scratch runs, and the suite read Expire-Span at 1.17x Transformer-XL where
 * interleaved steps on unchanged kernels gave 1.02-1.08x. The quick run after the change: 1.03x.)
 */
async function runShape(
  shape: SpeedShape,
  counts: Counts,
  plan: ReadonlyArray<{ kind: BuiltInKind; variants: readonly KernelVariant[] }>,
  kernelSets: readonly KernelVariant[],
): Promise<{ runs: KindRun[]; peaks: Record<KernelVariant, number> }> {
  const trainees = plan.map(({ kind, variants }) => trainee(kind, shape, variants));
  const seconds = trainees.map(() => perVariant<number[]>(() => []));
  const slots: number[][] = trainees.map(() => []);
  const peakSamples = perVariant<number[]>(() => []);
  const settler = trainees.find((current) => current.kind === 'txl') ?? trainees[0];
  try {
    for (let index = 0; index < counts.warmup + counts.measured; index++) {
      const timed = index >= counts.warmup;
      const order = trainees.map((_, position) => (position + index) % trainees.length);
      for (const variant of kernelSets) {
        const stepping = order.filter((position) => (trainees[position] as Trainee).variants.includes(variant));
        await useKernels(variant);
        if (variant !== 'stock' && settler && stepping.length > 0) settler.step();
        for (const position of stepping) {
          const elapsed = (trainees[position] as Trainee).step();
          if (timed) (seconds[position] as Record<KernelVariant, number[]>)[variant].push(elapsed);
        }
        if (timed) peakSamples[variant].push(await matmulRate(variant));
      }
      for (const [position, current] of trainees.entries()) (slots[position] as number[]).push(current.slots());
    }
    const runs: KindRun[] = [];
    for (const [position, current] of trainees.entries()) {
      const profiles: Partial<Record<KernelVariant, StepProfile>> = {};
      for (const variant of current.variants) {
        await useKernels(variant);
        profiles[variant] = await profileStep(() => {
          current.step();
        }, await current.heldBytes());
      }
      runs.push({
        kind: current.kind,
        shape,
        parameters: current.model.parameterCount(),
        meanMemorySlots: mean(slots[position] as number[]),
        temporalRange: current.model.temporalRange(),
        seconds: seconds[position] as Record<KernelVariant, number[]>,
        profiles,
      });
    }
    const peaks = perVariant(() => Number.NaN);
    for (const variant of kernelSets) peaks[variant] = median(peakSamples[variant]);
    return { runs, peaks };
  } finally {
    await useKernels('engram');
    for (const current of trainees) current.dispose();
  }
}

/** The table row of one kind, shape and kernel variant. */
function rowOf(run: KindRun, variant: KernelVariant, peaks: Record<KernelVariant, number>): ModelResult {
  const times = run.seconds[variant];
  const seconds = median(times);
  const profile = run.profiles[variant];
  const tokens = run.shape.batchSize * run.shape.segmentLength;
  const gigaflops = profile && seconds > 0 ? profile.flops / seconds / 1e9 : undefined;
  return {
    name: `${kindNames[run.kind]} (${run.shape.name}, ${variant} kernels)`,
    kind: run.kind,
    parameters: run.parameters,
    ...(profile ? { peakBytes: profile.peakBytes } : {}),
    msPerBatch: seconds * 1000,
    stepMilliseconds: times.map((time) => time * 1000),
    trainTokensPerSecond: tokens / seconds,
    temporalRange: run.temporalRange,
    meanMemorySlots: run.meanMemorySlots,
    steps: times.length,
    extra: {
      shape: run.shape.name,
      kernels: variant,
      batchSize: run.shape.batchSize,
      segmentLength: run.shape.segmentLength,
      ...(gigaflops === undefined ? {} : { gflops: gigaflops, peakFraction: gigaflops / peaks[variant] }),
      ...(profile ? { matmulGflopPerStep: profile.flops / 1e9 } : {}),
    },
  };
}

/** The top kernels of one profiled step, as a table. */
function kernelTable(run: KindRun, variant: KernelVariant, top = 10): SuiteTable | null {
  const profile = run.profiles[variant];
  if (!profile) return null;
  const total = [...profile.kernels.values()].reduce((sum, entry) => sum + entry.milliseconds, 0);
  const rows = [...profile.kernels.entries()]
    .sort((a, b) => b[1].milliseconds - a[1].milliseconds)
    .slice(0, top)
    .map(([name, entry]) => [name, entry.milliseconds.toFixed(1), String(entry.calls), `${((100 * entry.milliseconds) / (total || 1)).toFixed(0)}%`]);
  return {
    title: `Top kernels of one ${kindNames[run.kind]} training step (${run.shape.name} shape, ${variant} kernels; ${total.toFixed(0)} ms in kernels)`,
    headers: ['kernel', 'ms', 'calls', 'share'],
    rows,
  };
}

/**
 * The memory methods' cost relative to Transformer-XL, and Expire-Span's against the other methods, per shape:
 * decided by the ratio of step times paired round by round ({@link ratioAtMostClaim}: the geometric mean of the
 * per-round ratios with a range of 2 standard errors), so a claim is not decided by which of two equal costs a
 * noisy machine happened to favour.
 */
export function speedClaims(rows: readonly ModelResult[], shapes: readonly SpeedShape[] = speedShapes): Claim[] {
  return shapes.flatMap((shape) => {
    const steps = (kind: BuiltInKind): number[] | undefined =>
      rows.find((row) => row.kind === kind && row.extra?.shape === shape.name && row.extra?.kernels === 'engram')?.stepMilliseconds;
    const claims: Claim[] = [];
    const expire = steps('expire-span');
    const others = (['adaptive-span', 'compressive'] as const).flatMap((kind) => {
      const times = steps(kind);
      return times ? [{ kind, times }] : [];
    });
    if (expire && others.length === 2) {
      // Faster than both: each ratio's whole range below 1; not reproduced when either range lies at or above 1.
      const ratios = others.map(({ kind, times }) => ({ kind, ratio: pairedRatio(expire, times) }));
      const faster = ratios.every(({ ratio }) => ratio.undecidable === undefined && ratio.high < 1);
      const slower = ratios.some(({ ratio }) => ratio.undecidable === undefined && ratio.low >= 1);
      claims.push({
        claim: `Expire-Span trains faster per batch than Adaptive-Span and the Compressive Transformer (${shape.name} shape).`,
        source: sources.expireSpan,
        outcome: faster ? 'reproduced' : slower ? 'not reproduced' : 'inconclusive',
        evidence:
          ratios.map(({ kind, ratio }) => `Expire-Span / ${kindNames[kind]}: ${describeRatio(ratio)}`).join('; ') +
          ' (untrained spans, so about the keys of Transformer-XL: this is the mechanism\'s own cost).',
      });
    }
    const txl = steps('txl');
    if (txl) {
      for (const [kind, target] of Object.entries(costTargets) as [BuiltInKind, number][]) {
        const times = steps(kind);
        if (!times) continue;
        const { outcome, ratio } = ratioAtMostClaim(times, txl, target);
        claims.push({
          claim: `At the same keys per query, ${kindNames[kind]} costs at most ${target}x Transformer-XL per training step (${shape.name} shape).`,
          source: kind === 'compressive' ? sources.compressive : sources.expireSpan,
          outcome,
          evidence: `${kindNames[kind]} / Transformer-XL: ${describeRatio(ratio)}; medians ${median(times).toFixed(1)} ms against ${median(txl).toFixed(1)} ms.`,
        });
      }
    }
    return claims;
  });
}

/** Runs the suite. */
export async function runSpeedSuite(context: SuiteContext): Promise<SuiteOutput> {
  const shapes = context.mode === 'tiny-test' ? testShapes : speedShapes;
  const onWasm = tf.getBackend() === 'wasm';
  const wasActive = onWasm && fastKernelsActive();
  engramThreads = wasActive ? fastKernelThreads() : 1;
  engramInstructions = wasActive ? fastKernelInstructions() : 'simd128';
  // The one-thread and SIMD128 variants are only separate measurements when the run's kernels use two threads and
  // the relaxed GEMM.
  const variantsHere: KernelVariant[] = onWasm
    ? kernelVariants.filter(
        (variant) => (variant !== 'engram-1-thread' || engramThreads > 1) && (variant !== 'engram-simd128' || engramInstructions === 'relaxed-simd'),
      )
    : ['engram'];
  const peaksByShape: Record<string, Record<KernelVariant, number>> = {};
  const describePeaks = (peaks: Record<KernelVariant, number>) =>
    variantsHere.map((variant) => `${variant} ${peaks[variant].toFixed(1)} GFLOP/s`).join(', ');
  const runs: KindRun[] = [];
  const rows: ModelResult[] = [];
  const tables: SuiteTable[] = [];
  const speedups: string[] = [];
  const fusedGains: string[] = [];
  try {
    for (const shape of shapes) {
      const counts = speedPlans[context.mode][shape.name];
      // Transformer-XL runs every kernel set (the speed-ups); the memory methods Engram's, and stock when the plan says.
      const plan = kinds.map((kind) => ({
        kind,
        variants: variantsHere.filter((variant) => variant === 'engram' || kind === 'txl' || (variant === 'stock' && counts.stockForAllKinds)),
      }));
      context.log(
        ` ${shape.name}: ${counts.warmup} + ${counts.measured} rounds, each one step of ` +
          plan.map(({ kind, variants }) => `${kindNames[kind]} (${variants.join(', ')})`).join(', ') +
          ' and one 512^3 product per kernel set',
      );
      const measured = await runShape(shape, counts, plan, variantsHere);
      const peaks = measured.peaks;
      peaksByShape[shape.name] = peaks;
      context.log(` ${shape.name}: 2-D matmul peak (512^3, median over the rounds): ${describePeaks(peaks)}`);
      for (const run of measured.runs) {
        const { kind } = run;
        const variants = plan.find((entry) => entry.kind === kind)?.variants ?? [];
        runs.push(run);
        for (const variant of variants) rows.push(rowOf(run, variant, peaks));
        if (variants.includes('stock')) {
          const over = (variant: KernelVariant) => (median(run.seconds.stock) / median(run.seconds[variant])).toFixed(2);
          const oneThread = variants.includes('engram-1-thread') ? `, ${over('engram-1-thread')}x on one thread` : '';
          speedups.push(`${kindNames[kind]} ${shape.name}: ${over('engram')}x with ${engramThreads} thread(s)${oneThread}`);
        }
        if (variants.includes('engram-simd128')) {
          fusedGains.push(`${kindNames[kind]} ${shape.name}: ${describeRatio(pairedRatio(run.seconds['engram-simd128'], run.seconds.engram))}`);
        }
        if (kind === 'txl') for (const variant of variants) {
          const table = kernelTable(run, variant);
          if (table) tables.push(table);
        }
      }
    }
  } finally {
    if (onWasm) await useKernels(wasActive ? 'engram' : 'stock');
  }
  const byShape = shapes.map((shape) => shape.name);
  const variantsShown: readonly KernelVariant[] = variantsHere;
  /** One horizontal bar chart per shape: ms per step of every kind, one bar per kernel set. */
  const chartOf = (shape: SpeedShape) => {
    const shapeRuns = runs.filter((run) => run.shape.name === shape.name);
    return {
      id: `step-time-${shape.name}`,
      title: `Milliseconds per training step, ${shape.name} shape`,
      xLabel: 'model',
      yLabel: 'ms per training step (lower is better)',
      mode: 'bar' as const,
      orientation: 'horizontal' as const,
      categories: shapeRuns.map((run) => kindNames[run.kind]),
      series: variantsShown.map((variant) => ({
        name: `${variant} kernels`,
        points: shapeRuns.flatMap((run, index) => {
          const seconds = median(run.seconds[variant]);
          return Number.isFinite(seconds) ? [[index, seconds * 1000] as [number, number]] : [];
        }),
      })),
      caption:
        `Batch ${shape.batchSize}, segment ${shape.segmentLength}, memory ${shape.memory}, ${shape.numLayers} layers, width ${shape.modelDim}, ` +
        `${shape.numHeads} heads, FF ${shape.feedForwardDim}; medians of ${speedPlans[context.mode][shape.name].measured} timed steps per model and kernel set, in rounds of one block per kernel set, in one process.`,
    };
  };
  return {
    config: {
      vocabSize: 256,
      data: 'random bytes (the cost of a step does not depend on token values)',
      shapes,
      counts: speedPlans[context.mode],
      memory: Object.fromEntries(shapes.map((shape) => [shape.name, memorySettings(shape.memory)])),
      matmulPeakGflops: peaksByShape,
      kernelVariants: variantsHere,
      engramKernelThreads: engramThreads,
      engramKernelInstructions: engramInstructions,
    },
    models: rows,
    charts: shapes.map(chartOf),
    tables,
    claims: speedClaims(rows, shapes),
    notes: [
      `Speed-up of Engram's kernels over the stock tfjs kernels (median stock ms / median Engram ms, the kernel sets alternating block by block in every round, in one process): ${speedups.join('; ') || 'not measured (not on wasm)'}.`,
      ...(fusedGains.length > 0
        ? [`Step time with the SIMD128 GEMM over the relaxed-SIMD (FMA) GEMM, same threads, paired round by round: ${fusedGains.join('; ')}.`]
        : []),
      `Achieved GFLOP/s counts the matrix products of one profiled step (2 |C| K per product, read off the kernel shapes; Engram's per-head attention products count as the batched products they replace) over the median step time, against the 2-D matmul peak of the same kernel set (512^3 products, one per round, median): ${shapes.map((shape) => `${shape.name}: ${describePeaks(peaksByShape[shape.name] as Record<KernelVariant, number>)}`).join('; ')}.`,
      'Peak bytes: the largest tensor memory of one model during one of its profiled steps (tf.profile, which counts every tensor object, views included): its weights, optimizer moments and memory plus the step\'s tensors; the other models of the run, alive in the same process, are not counted.',
      'Models start untrained, so Expire-Span and Adaptive-Span run at their starting spans (about the keys of Transformer-XL); the lm suite shows how training moves them.',
      `Shapes: ${byShape.join(', ')}; times are medians of the timed steps after the warm-up steps; at each shape every round runs one block per kernel set (switch, one untimed settling step of Transformer-XL on Engram's kernels, then one timed step of every model in an order rotated each round), so the ratios compare steps taken under the same load and the methods compare steps on unchanged kernels.`,
    ],
  };
}
