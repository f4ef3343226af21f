// Transpose for the wasm backend: axes simplified to rank <= 4, then the blocked SIMD copy of native/gemm.c.
import * as tf from '@tensorflow/tfjs';
import type { HeapGemm, TransposeCall } from './gemm.js';
import { heapOffset, type WasmHeapBackend } from './wasm-backend.js';

/**
 * The same permutation on fewer axes: size-1 axes dropped, and output axes that stay neighbours in the input merged.
 * Returns the input extents and the permutation of the simplified input (`out axis j = input axis perm[j]`).
 */
export function simplifyPermutation(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const live = shape.map((_, axis) => axis).filter((axis) => (shape[axis] as number) !== 1);
  const squeezedShape = live.map((axis) => shape[axis] as number);
  const squeezedPerm = perm.filter((axis) => (shape[axis] as number) !== 1).map((axis) => live.indexOf(axis));
  // Runs of consecutive input axes in output order; each run becomes one axis.
  const runs: number[][] = [];
  for (const axis of squeezedPerm) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[last.length - 1] === axis - 1) last.push(axis);
    else runs.push([axis]);
  }
  const inputOrder = [...runs].sort((x, y) => (x[0] as number) - (y[0] as number));
  return {
    shape: inputOrder.map((run) => run.reduce((product, axis) => product * (squeezedShape[axis] as number), 1)),
    perm: runs.map((run) => inputOrder.indexOf(run)),
  };
}

/** The transpose as one `transpose_32` call, or null when it needs more than 4 axes after simplification. */
export function planTranspose(shape: readonly number[], perm: readonly number[], input: number, output: number): TransposeCall | null {
  const simple = simplifyPermutation(shape, perm);
  const rank = simple.shape.length;
  if (rank > 4) return null;
  const inputStrides: number[] = new Array<number>(rank);
  let stride = 1;
  for (let axis = rank - 1; axis >= 0; axis--) {
    inputStrides[axis] = stride;
    stride *= simple.shape[axis] as number;
  }
  const extents = simple.perm.map((axis) => simple.shape[axis] as number);
  const strides = simple.perm.map((axis) => inputStrides[axis] as number);
  while (extents.length < 4) {
    extents.unshift(1);
    strides.unshift(0);
  }
  return { input, output, extents: extents as unknown as TransposeCall['extents'], strides: strides as unknown as TransposeCall['strides'] };
}

/**
 * `Transpose` of a float32 or int32 tensor of any rank whose permutation needs at most 4 axes once size-1 axes are
 * dropped and neighbours merged (every rank 2-4 case); `fallback` (the stock kernel) runs everything else.
 */
export function fastTranspose(
  args: Parameters<tf.KernelFunc>[0],
  gemm: HeapGemm,
  fallback: () => ReturnType<tf.KernelFunc>,
): ReturnType<tf.KernelFunc> {
  const backend: WasmHeapBackend = gemm.backend;
  const { x } = args.inputs as unknown as { x: tf.TensorInfo };
  const { perm } = args.attrs as unknown as tf.TransposeAttrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return fallback();
  const outputShape = perm.map((axis) => x.shape[axis] as number);
  const size = outputShape.reduce((product, extent) => product * extent, 1);
  if (size === 0) return backend.makeOutput(outputShape, x.dtype);
  const plan = planTranspose(x.shape, perm, 0, 0);
  if (plan === null) return fallback();
  const output = backend.makeOutput(outputShape, x.dtype);
  gemm.transpose({ ...plan, input: heapOffset(backend, x), output: heapOffset(backend, output) });
  return output;
}
