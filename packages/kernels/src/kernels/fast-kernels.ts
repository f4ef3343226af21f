// BatchMatMul, _FusedMatMul, Identity, Transpose and Sum for the wasm backend on the SIMD module of native/gemm.c, the heap copies of fast-copy.ts, and their registration.
//
// The stock tfjs-backend-wasm 4.22 kernels send only plain 2-D products to XNNPACK (which re-packs B on every call)
// and every batched or transposed product to a scalar loop at about 1 GFLOP/s. These kernels pass strides instead:
// transposes cost nothing, batch dimensions of size 1 broadcast through a zero batch stride, other broadcasting runs
// one product per output batch. The stock configs are kept: they serve non-float32 inputs and the fused activations
// the GEMM does not implement (prelu, elu, sigmoid), and `unregisterFastKernels` puts them back. Transpose is a
// blocked 4x4-shuffle copy (fast-transpose.ts).
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError, InvalidArgumentError } from '../errors.js';
import {
  GEMM_ACTIVATION,
  GEMM_INSTRUCTIONS,
  gemmInstructions,
  instantiateGemm,
  instantiateGemmAsync,
  preferGemmInstructions,
  type GemmActivation,
  type GemmCall,
  type GemmInstructions,
  type HeapGemm,
} from './gemm.js';
import { fastTranspose } from './fast-transpose.js';
import { fastGatherV2, fastSlice, fastSplitV } from './fast-copy.js';
import { startThreadedGemm, type ThreadedGemmOptions, type ThreadedGemm } from './threaded-gemm.js';
import { FUSED_ADAM, fusedAdamKernel, globalNormKernel } from './fused-adam.js';
import { PAIR_SCORES, pairScoresKernel } from './pair-scores.js';
import { POSITION_DISTANCES, positionDistancesKernel, RELATIVE_DISTANCE_INDEX, relativeDistanceIndexKernel } from './position-kernels.js';
import { GLOBAL_NORM } from '../ops/gradient.js';
import {
  SOFT_MASKED_SOFTMAX,
  SOFT_MASKED_SOFTMAX_GRAD,
  SPAN_MASK,
  SPAN_MASK_GRAD,
  SPAN_PENALTY,
  softMaskedSoftmaxGradKernel,
  softMaskedSoftmaxKernel,
  spanMaskGradKernel,
  spanMaskKernel,
  spanPenaltyKernel,
} from './span-kernels.js';
import { SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRAD, softmaxCrossEntropyGradKernel, softmaxCrossEntropyKernel } from './loss-kernels.js';
import { LAYER_NORM, LAYER_NORM_GRAD, layerNormGradKernel, layerNormKernel } from './norm-kernels.js';
import { HEAD_APPLY, HEAD_APPLY_TRANSPOSED, HEAD_SCORES, type HeadMatMulAttrs } from '../ops/head-matmul.js';
import { asWasmHeapBackend, heapOffset, type WasmHeapBackend } from './wasm-backend.js';

/** Kernel names `registerFastKernels` replaces on the `wasm` backend. */
export const FAST_WASM_KERNELS = [tf.BatchMatMul, tf._FusedMatMul, tf.Identity, tf.Transpose, tf.Sum, tf.Slice, tf.SplitV, tf.GatherV2] as const;
type FastKernelName = (typeof FAST_WASM_KERNELS)[number];

interface Epilogue {
  bias: tf.TensorInfo | null;
  biasStride: 0 | 1;
  activation: GemmActivation;
  alpha: number;
}

const PLAIN: Epilogue = { bias: null, biasStride: 0, activation: 'linear', alpha: 0 };

const stockConfigs = new Map<FastKernelName, tf.KernelConfig>();
let heapGemm: HeapGemm | null = null;

function gemmFor(backend: unknown): HeapGemm {
  if (heapGemm === null || heapGemm.backend !== backend) {
    heapGemm = instantiateGemm(asWasmHeapBackend(backend, 'the fast kernels'));
  }
  return heapGemm;
}

let threaded: ThreadedGemm | null = null;
/** What `setFastKernelThreads` accepts: the worker's build always follows the heap GEMM's. */
type FastKernelThreadOptions = Omit<ThreadedGemmOptions, 'instructions'>;
/** The options of the last `setFastKernelThreads(2)`, reused when a change of instruction set restarts the worker. */
let threadOptions: FastKernelThreadOptions = {};

/** Runs independent GEMM calls (disjoint outputs), on two threads when `setFastKernelThreads(2)` is in force. */
function runCalls(gemm: HeapGemm, calls: GemmCall[]): void {
  if (threaded?.alive === true) threaded.run(gemm, calls);
  else for (const call of calls) gemm.run(call);
}

/**
 * Sets the threads the fast matmul kernels use: 1, or 2 (a worker thread running the shared-memory GEMM on part
 * of every product of at least `minFlops`; see threaded-gemm.ts). Returns the count in force afterwards: 1 when the
 * worker cannot start (no worker_threads, no SharedArrayBuffer), after a one-time warning through `warn`.
 * `unregisterFastKernels` terminates the worker; call this again after registering to thread again.
 */
export async function setFastKernelThreads(threads: number, options: FastKernelThreadOptions = {}): Promise<number> {
  if (!Number.isInteger(threads) || threads < 1 || threads > 2) {
    throw new InvalidArgumentError({ operation: 'setFastKernelThreads', parameter: 'threads', expected: '1 or 2', actual: String(threads) });
  }
  stopThreads();
  if (threads === 1) return 1;
  threadOptions = options;
  try {
    threaded = await startThreadedGemm({ ...options, instructions: heapGemm?.instructions ?? gemmInstructions() });
    return 2;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    (options.warn ?? ((message: string) => console.warn(message)))(
      `@engram/kernels: the fast kernels run on one thread: the GEMM worker could not start (${detail}).`,
    );
    return 1;
  }
}

function stopThreads(): void {
  threaded?.dispose();
  threaded = null;
}

/** Threads the fast matmul kernels use now: 2 while the GEMM worker runs, else 1. */
export function fastKernelThreads(): number {
  return threaded?.alive === true ? 2 : 1;
}

/**
 * Chooses the GEMM's instruction set: `relaxed-simd` (fused multiply-add, where the engine validates it), `simd128`,
 * or `auto` (relaxed SIMD where it validates: the default). Takes effect at once: the GEMM on the wasm heap is
 * instantiated again and a running worker thread restarted with the same build, so two threads stay bit-identical to
 * one. Resolves to the instruction set in force. `relaxed-simd` where the engine rejects it throws
 * `BackendUnavailableError` (Node 20 needs `allowRelaxedSimd()` first, which `initBackend` calls).
 */
export async function setFastKernelInstructions(choice: GemmInstructions | 'auto'): Promise<GemmInstructions> {
  if (choice !== 'auto' && !GEMM_INSTRUCTIONS.includes(choice)) {
    throw new InvalidArgumentError({
      operation: 'setFastKernelInstructions',
      parameter: 'choice',
      expected: `'auto', ${GEMM_INSTRUCTIONS.map((name) => `'${name}'`).join(' or ')}`,
      actual: JSON.stringify(choice),
    });
  }
  preferGemmInstructions(choice);
  const next = gemmInstructions();
  if (heapGemm !== null && heapGemm.instructions !== next) {
    const { backend } = heapGemm;
    if ((backend as object) === tf.engine().registry.wasm) heapGemm.releaseScratch();
    heapGemm = await instantiateGemmAsync(backend, next);
  }
  if (threaded?.alive === true && threaded.instructions !== next) await setFastKernelThreads(2, threadOptions);
  return next;
}

/** The instruction set of the GEMM on the wasm heap (or of the next one instantiated, before any). */
export function fastKernelInstructions(): GemmInstructions {
  return heapGemm?.instructions ?? gemmInstructions();
}

/** Counters of the threaded GEMM (jobs shared with the worker, jobs taken back), or null on one thread. */
export function fastKernelThreadStats(): { shared: number; reclaimed: number; minFlops: number } | null {
  return threaded?.alive === true ? { ...threaded.stats, minFlops: threaded.minFlops } : null;
}

function runStock(kernelName: FastKernelName, args: Parameters<tf.KernelFunc>[0]): ReturnType<tf.KernelFunc> {
  const stock = stockConfigs.get(kernelName);
  if (stock === undefined) throw new Error(`@engram/kernels: no stock ${kernelName} kernel was kept for the fallback`);
  return stock.kernelFunc(args);
}

const size = (shape: readonly number[]): number => shape.reduce((product, extent) => product * extent, 1);

/** Flat index into a batch of shape `inputShape` (right-aligned, size-1 axes broadcast) of output batch `flat`. */
function broadcastBatchIndex(flat: number, outputShape: readonly number[], inputShape: readonly number[]): number {
  let index = 0;
  let stride = 1;
  let rest = flat;
  for (let axis = outputShape.length - 1; axis >= 0; axis--) {
    const extent = outputShape[axis] as number;
    const coordinate = rest % extent;
    rest = Math.floor(rest / extent);
    const inputAxis = axis - (outputShape.length - inputShape.length);
    if (inputAxis < 0) continue;
    const inputExtent = inputShape[inputAxis] as number;
    if (inputExtent !== 1) index += coordinate * stride;
    stride *= inputExtent;
  }
  return index;
}

function columnsOf(b: tf.TensorInfo, transposeB: boolean): number {
  const rank = b.shape.length;
  return b.shape[transposeB ? rank - 2 : rank - 1] as number;
}

/**
 * `act(op(a) op(b) + bias)` over broadcast batch dimensions, where op transposes the last two axes when asked.
 * a `[...batchA, M, K]` (or `[..., K, M]` with transposeA), b `[...batchB, K, N]` (or `[..., N, K]`) -> `[...batch, M, N]`.
 */
function multiply(
  backendArgument: unknown,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  epilogue: Epilogue,
): tf.TensorInfo {
  const backend: WasmHeapBackend = asWasmHeapBackend(backendArgument, 'the fast kernels');
  const gemm = gemmFor(backend);
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  if (aRank < 2 || bRank < 2) {
    throw new Error(`BatchMatMul needs operands of rank >= 2, got a [${a.shape}] and b [${b.shape}]`);
  }
  const m = a.shape[transposeA ? aRank - 1 : aRank - 2] as number;
  const k = a.shape[transposeA ? aRank - 2 : aRank - 1] as number;
  const innerB = b.shape[transposeB ? bRank - 1 : bRank - 2] as number;
  const n = columnsOf(b, transposeB);
  if (k !== innerB) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${innerB}) of tensors with shapes [${a.shape}] and [${b.shape}] ` +
        `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  const output = backend.makeOutput([...batchShape, m, n], 'float32');
  const batches = size(batchShape);
  if (batches * m * n === 0) return output;
  const batchesA = size(batchShapeA);
  const batchesB = size(batchShapeB);
  const call: GemmCall = {
    batch: batches,
    m,
    n,
    k,
    a: heapOffset(backend, a),
    aBatch: m * k,
    aRow: transposeA ? 1 : k,
    aColumn: transposeA ? m : 1,
    b: heapOffset(backend, b),
    bBatch: k * n,
    bRow: transposeB ? 1 : n,
    bColumn: transposeB ? k : 1,
    c: heapOffset(backend, output),
    cBatch: m * n,
    cRow: n,
    bias: epilogue.bias === null ? 0 : heapOffset(backend, epilogue.bias),
    biasStride: epilogue.biasStride,
    activation: epilogue.activation,
    alpha: epilogue.alpha,
  };
  if (batchesB === 1 && !transposeA) {
    // Row-major A over a shared B: one product with batches * M rows (B packed once).
    runCalls(gemm, [{ ...call, batch: 1, m: batches * m }]);
  } else if (batchesA === batches && batchesB === batches) {
    runCalls(gemm, [call]);
  } else if (batchesA === 1 || batchesB === 1) {
    runCalls(gemm, [{ ...call, aBatch: batchesA === 1 ? 0 : call.aBatch, bBatch: batchesB === 1 ? 0 : call.bBatch }]);
  } else {
    const calls: GemmCall[] = [];
    for (let batch = 0; batch < batches; batch++) {
      const indexA = broadcastBatchIndex(batch, batchShape, batchShapeA);
      const indexB = broadcastBatchIndex(batch, batchShape, batchShapeB);
      calls.push({
        ...call,
        batch: 1,
        a: call.a + 4 * indexA * call.aBatch,
        b: call.b + 4 * indexB * call.bBatch,
        c: call.c + 4 * batch * call.cBatch,
      });
    }
    runCalls(gemm, calls);
  }
  return output;
}

const fastBatchMatMul: tf.KernelFunc = (args) => {
  const { a, b } = args.inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return runStock(tf.BatchMatMul, args);
  return multiply(args.backend, a, b, transposeA, transposeB, PLAIN);
};

const fastFusedMatMul: tf.KernelFunc = (args) => {
  const { a, b, bias } = args.inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
  const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as tf._FusedMatMulAttrs;
  const kind = (activation ?? 'linear') as string;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !Object.hasOwn(GEMM_ACTIVATION, kind)) return runStock(tf._FusedMatMul, args);
  let biasStride: 0 | 1 = 0;
  if (bias != null) {
    const n = columnsOf(b, transposeB);
    const biasSize = size(bias.shape);
    if (bias.dtype !== 'float32') return runStock(tf._FusedMatMul, args);
    if (biasSize === 1) biasStride = 0;
    else if (biasSize === n && bias.shape[bias.shape.length - 1] === n) biasStride = 1;
    else return runStock(tf._FusedMatMul, args); // a bias that varies along rows or batches
  }
  return multiply(args.backend, a, b, transposeA, transposeB, {
    bias: bias ?? null,
    biasStride,
    activation: kind as GemmActivation,
    alpha: leakyreluAlpha ?? 0,
  });
};

/**
 * Identity sharing the input's buffer (a reference count) instead of copying it, as the cpu backend does. tfjs runs
 * Identity for `tf.clone`, for what `tf.customGrad` saves and returns and for gradients passed through: about 240
 * calls copying 55 MB per tiny training step with the stock kernel. tfjs tensors are immutable (a variable's
 * `assign` swaps its buffer), so sharing is safe; strings keep the stock kernel.
 */
const sharedIdentity: tf.KernelFunc = (args) => {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === 'string') return runStock(tf.Identity, args);
  (args.backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};

/**
 * Sum of float32 values over leading axes (`x [R..., C...]` summed over the R axes) as one GEMM with a single row,
 * `1[1, R] x[R, C]`, whose A operand is one 1.0 read with column stride 0. tfjs's gradients of broadcast adds (every
 * bias and layer-norm gain) reduce this way, and the stock kernel transposes first and then sums on one scalar loop:
 * about 1.2 ms for a [1024, 128] input, about 10% of a tiny training step. Other reductions (trailing axes, all axes,
 * other dtypes) keep the stock kernel.
 */
const fastSum: tf.KernelFunc = (args) => {
  const x = args.inputs.x as tf.TensorInfo;
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((first, second) => first - second);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((value, index) => value === index);
  if (x.dtype !== 'float32' || !leading) return runStock(tf.Sum, args);
  const backend: WasmHeapBackend = asWasmHeapBackend(args.backend, 'the fast kernels');
  const rows = size(x.shape.slice(0, axes.length));
  const columns = size(x.shape.slice(axes.length));
  const kept = x.shape.slice(axes.length);
  const output = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  if (columns === 0) return output;
  const one = backend.makeOutput([1], 'float32');
  try {
    (backend.typedArrayFromHeap(one) as Float32Array)[0] = 1;
    if (rows === 0) (backend.typedArrayFromHeap(output) as Float32Array).fill(0);
    else {
      runCalls(gemmFor(backend), [
        {
          batch: 1, m: 1, n: columns, k: rows,
          a: heapOffset(backend, one), aBatch: 0, aRow: 0, aColumn: 0,
          b: heapOffset(backend, x), bBatch: 0, bRow: columns, bColumn: 1,
          c: heapOffset(backend, output), cBatch: 0, cRow: columns,
          ...PLAIN_CALL,
        },
      ]);
    }
  } finally {
    backend.disposeData(one.dataId);
  }
  return output;
};

const FAST_KERNEL_FUNCS: Record<FastKernelName, tf.KernelFunc> = {
  [tf.BatchMatMul]: fastBatchMatMul,
  [tf._FusedMatMul]: fastFusedMatMul,
  [tf.Identity]: sharedIdentity,
  [tf.Transpose]: (args) => fastTranspose(args, gemmFor(args.backend), () => runStock(tf.Transpose, args)),
  [tf.Sum]: fastSum,
  [tf.Slice]: (args) => fastSlice(args, (stockArgs) => runStock(tf.Slice, stockArgs)),
  [tf.SplitV]: (args) => fastSplitV(args, (stockArgs) => runStock(tf.SplitV, stockArgs)),
  [tf.GatherV2]: (args) => fastGatherV2(args, (stockArgs) => runStock(tf.GatherV2, stockArgs)),
};

/**
 * The per-head products of `headScores` / `headApply` (ops/head-matmul.ts) on the GEMM, reading heads in place from
 * the token-major `[B, L, H*d]` layout: one GEMM call per batch row with the heads as its batch (head h starts
 * `h*d` floats in, rows are `H*d` apart), so no transpose runs. These kernel names exist only here (there is no stock
 * kernel): without them the ops run tfjs transposes and batched matmuls.
 */
function headProduct(kind: 'scores' | 'apply' | 'applyTransposed'): tf.KernelFunc {
  return ({ inputs, backend: backendArgument, attrs }) => {
    const backend = asWasmHeapBackend(backendArgument, 'the head product kernels');
    const gemm = gemmFor(backend);
    const { heads } = attrs as unknown as HeadMatMulAttrs;
    const first = (kind === 'scores' ? inputs.x : inputs.p) as tf.TensorInfo;
    const second = (kind === 'applyTransposed' ? inputs.x : inputs.y) as tf.TensorInfo;
    const batch = first.shape[0] as number;
    const secondBatch = second.shape[0] as number;
    let outputShape: number[];
    let plan: (row: number, a: number, b: number, c: number) => GemmCall;
    if (kind === 'scores') {
      // out[b, h, i, j] = sum_e x[b, i, h*d+e] y[b, j, h*d+e]
      const [, l1, width] = first.shape as [number, number, number];
      const l2 = second.shape[1] as number;
      const d = width / heads;
      outputShape = [batch, heads, l1, l2];
      plan = (row, a, b, c) => ({
        batch: heads, m: l1, n: l2, k: d,
        a: a + 4 * row * l1 * width, aBatch: d, aRow: width, aColumn: 1,
        b: b + 4 * (secondBatch === 1 ? 0 : row) * l2 * width, bBatch: d, bRow: 1, bColumn: width,
        c: c + 4 * row * heads * l1 * l2, cBatch: l1 * l2, cRow: l2,
        ...PLAIN_CALL,
      });
    } else {
      // apply: out[b, i, h*d+e] = sum_j p[b, h, i, j] y[b, j, h*d+e]; applyTransposed: out[b, j, ..] = sum_i p[b, h, i, j] x[b, i, ..]
      const [, , l1, l2] = first.shape as [number, number, number, number];
      const width = second.shape[2] as number;
      const d = width / heads;
      const transposed = kind === 'applyTransposed';
      const [rows, inner] = transposed ? [l2, l1] : [l1, l2];
      outputShape = [batch, rows, width];
      plan = (row, a, b, c) => ({
        batch: heads, m: rows, n: d, k: inner,
        a: a + 4 * row * heads * l1 * l2, aBatch: l1 * l2, aRow: transposed ? 1 : l2, aColumn: transposed ? l2 : 1,
        b: b + 4 * (secondBatch === 1 ? 0 : row) * inner * width, bBatch: d, bRow: width, bColumn: 1,
        c: c + 4 * row * rows * width, cBatch: d, cRow: width,
        ...PLAIN_CALL,
      });
    }
    const output = backend.makeOutput(outputShape, 'float32');
    if (size(outputShape) === 0) return output;
    const [a, b, c] = [heapOffset(backend, first), heapOffset(backend, second), heapOffset(backend, output)];
    runCalls(gemm, Array.from({ length: batch }, (_, row) => plan(row, a, b, c)));
    return output;
  };
}

/**
 * The epilogue fields of a call without bias or activation. Spread it LAST into a call literal: on Node 20 (V8 11.3)
 * a literal that starts with a spread and then adds new properties cost about 40 us per object (measured), which
 * made every head product and leading-axis sum pay 0.2-0.4 ms of JavaScript; spread last, it costs about 0.2 us.
 */
const PLAIN_CALL = { bias: 0, biasStride: 0 as const, activation: 'linear' as const, alpha: 0 };

/** Engram's own kernel names (no stock kernel exists): registered and unregistered together with the fast kernels. */
const ENGRAM_KERNEL_FUNCS: Record<string, tf.KernelFunc> = {
  [HEAD_SCORES]: headProduct('scores'),
  [HEAD_APPLY]: headProduct('apply'),
  [HEAD_APPLY_TRANSPOSED]: headProduct('applyTransposed'),
  [FUSED_ADAM]: fusedAdamKernel,
  [GLOBAL_NORM]: globalNormKernel,
  [POSITION_DISTANCES]: positionDistancesKernel,
  [RELATIVE_DISTANCE_INDEX]: relativeDistanceIndexKernel,
  [PAIR_SCORES]: pairScoresKernel,
  [SPAN_MASK]: spanMaskKernel,
  [SPAN_MASK_GRAD]: spanMaskGradKernel,
  [SPAN_PENALTY]: spanPenaltyKernel,
  [SOFT_MASKED_SOFTMAX]: softMaskedSoftmaxKernel,
  [SOFT_MASKED_SOFTMAX_GRAD]: softMaskedSoftmaxGradKernel,
  [SOFTMAX_CROSS_ENTROPY]: softmaxCrossEntropyKernel,
  [SOFTMAX_CROSS_ENTROPY_GRAD]: softmaxCrossEntropyGradKernel,
  [LAYER_NORM]: layerNormKernel,
  [LAYER_NORM_GRAD]: layerNormGradKernel,
};

function initialisedWasmBackend(operation: string): WasmHeapBackend {
  const backend = tf.engine().registry.wasm;
  if (backend === undefined) {
    throw new BackendUnavailableError(
      'wasm',
      `${operation} needs the initialised wasm backend: import @tensorflow/tfjs-backend-wasm and call it after ` +
        "`await tf.setBackend('wasm')` (or use initBackend({ backend: 'wasm' }), which registers the fast kernels).",
    );
  }
  return asWasmHeapBackend(backend, operation);
}

/**
 * Instantiates the GEMM on the wasm heap asynchronously (browsers' main thread refuses to compile modules over
 * 4 KB synchronously), so that a following `registerFastKernels()` has nothing left to compile.
 */
export async function prepareFastKernels(): Promise<void> {
  const backend = initialisedWasmBackend('prepareFastKernels');
  if (heapGemm?.backend !== backend) heapGemm = await instantiateGemmAsync(backend);
}

/**
 * Replaces the wasm backend's kernels named in {@link FAST_WASM_KERNELS} with Engram's, keeping the stock configs
 * for fallback and for `unregisterFastKernels`. Idempotent. Requires the wasm backend to be initialised (call it after
 * `await tf.setBackend('wasm')`); throws `BackendUnavailableError` otherwise, and an `Error` when the GEMM cannot run
 * on this heap (the threaded wasm binary's shared memory). Only the `wasm` backend is touched, whichever is active.
 */
export function registerFastKernels(): void {
  gemmFor(initialisedWasmBackend('registerFastKernels'));
  for (const kernelName of FAST_WASM_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === FAST_KERNEL_FUNCS[kernelName]) continue;
    if (current === undefined) {
      throw new BackendUnavailableError('wasm', `registerFastKernels: the wasm backend has no stock ${kernelName} kernel to replace`);
    }
    stockConfigs.set(kernelName, current);
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: FAST_KERNEL_FUNCS[kernelName],
      // The stock setup binds the stock kernel to the backend; the fallback needs it after a backend re-initialises.
      setupFunc: current.setupFunc,
      disposeFunc: current.disposeFunc,
    });
  }
  for (const [kernelName, kernelFunc] of Object.entries(ENGRAM_KERNEL_FUNCS)) {
    if (tf.getKernel(kernelName, 'wasm') === undefined) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}

/**
 * Puts the stock tfjs kernels back (idempotent; registering again later works), terminates the GEMM worker thread
 * (`setFastKernelThreads`) and frees the GEMM's scratch.
 */
export function unregisterFastKernels(): void {
  stopThreads();
  for (const kernelName of FAST_WASM_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    const stock = stockConfigs.get(kernelName);
    if (current?.kernelFunc !== FAST_KERNEL_FUNCS[kernelName] || stock === undefined) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(stock);
  }
  for (const [kernelName, kernelFunc] of Object.entries(ENGRAM_KERNEL_FUNCS)) {
    if (tf.getKernel(kernelName, 'wasm')?.kernelFunc === kernelFunc) tf.unregisterKernel(kernelName, 'wasm');
  }
  // The scratch lives on the heap of the backend it was made for; free it only while that heap is alive.
  if (heapGemm !== null && (heapGemm.backend as object) === tf.engine().registry.wasm) heapGemm.releaseScratch();
}

/** True when every fast kernel is the one registered for `wasm`. */
export function fastKernelsActive(): boolean {
  return FAST_WASM_KERNELS.every((kernelName) => tf.getKernel(kernelName, 'wasm')?.kernelFunc === FAST_KERNEL_FUNCS[kernelName]);
}
