// Slice, SplitV and GatherV2 for the wasm backend as block copies inside the heap: no read-back of the input, one memmove per contiguous run.
//
// The stock tfjs-backend-wasm 4.22 Slice copies the whole input out of the heap (`readSync`) and then copies each
// innermost row back with a typed-array `set`; SplitV runs that once per output; GatherV2 reads the indices back and
// runs a per-element loop. In a small Transformer-XL training step these took about 9% of the kernel time (the
// embedding gather alone 34 ms for 2,048 rows of 256 floats). Here every copy is `copyWithin` on one view of the heap,
// over the longest runs the shapes allow (trailing axes taken whole merge into one run).
import * as tf from '@tensorflow/tfjs';
import { asWasmHeapBackend, heapOffset, type WasmHeapBackend } from './wasm-backend.js';

type StockKernel = (args: Parameters<tf.KernelFunc>[0]) => ReturnType<tf.KernelFunc>;

/** Bytes per element of the dtypes copied here (4-byte values move as raw 32-bit words, bool as bytes); others: null. */
function elementBytes(dtype: tf.DataType): 4 | 1 | null {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool') return 1;
  return null;
}

/** A view over the whole heap with elements of `bytes` bytes (taken after every `makeOutput`: the heap may grow). */
function heapView(backend: WasmHeapBackend, bytes: 4 | 1): Int32Array | Uint8Array {
  const buffer = backend.wasm.asm.memory.buffer as ArrayBuffer;
  return bytes === 4 ? new Int32Array(buffer) : new Uint8Array(buffer);
}

function size(shape: readonly number[]): number {
  return shape.reduce((product, length) => product * length, 1);
}

/**
 * Copies the box `begin .. begin + extent` of a row-major `shape` starting at element `source` of `view` to the
 * contiguous elements from `target`. Trailing axes the box takes whole merge with the first partial one into a single
 * run; the axes before it are walked as an odometer.
 * @returns the number of elements written
 */
function copyBox(
  view: Int32Array | Uint8Array,
  source: number,
  shape: readonly number[],
  begin: readonly number[],
  extent: readonly number[],
  target: number,
): number {
  const rank = shape.length;
  const total = size(extent);
  if (total === 0) return 0;
  const strides = new Array<number>(rank);
  let stride = 1;
  for (let axis = rank - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis] as number;
  }
  // The run: from `runAxis` to the end, every axis after `runAxis` taken whole.
  let runAxis = rank - 1;
  while (runAxis > 0 && extent[runAxis] === shape[runAxis]) runAxis--;
  const run = rank === 0 ? 1 : size(extent.slice(runAxis));
  let start = source;
  for (let axis = 0; axis < rank; axis++) start += (begin[axis] as number) * (strides[axis] as number);
  const counter = new Array<number>(runAxis).fill(0);
  for (let written = 0; written < total; written += run) {
    let offset = start;
    for (let axis = 0; axis < runAxis; axis++) offset += (counter[axis] as number) * (strides[axis] as number);
    view.copyWithin(target + written, offset, offset + run);
    for (let axis = runAxis - 1; axis >= 0; axis--) {
      counter[axis] = (counter[axis] as number) + 1;
      if ((counter[axis] as number) < (extent[axis] as number)) break;
      counter[axis] = 0;
    }
  }
  return total;
}

/** Copies `extent` from `begin` of `x` into a new output tensor of shape `extent`. */
function sliceInto(backend: WasmHeapBackend, x: tf.TensorInfo, bytes: 4 | 1, begin: readonly number[], extent: readonly number[]): tf.TensorInfo {
  const output = backend.makeOutput([...extent], x.dtype);
  if (size(extent) === 0) return output;
  const view = heapView(backend, bytes);
  copyBox(view, heapOffset(backend, x) / bytes, x.shape, begin, extent, heapOffset(backend, output) / bytes);
  return output;
}

/** `Slice` (`begin`, `size` with -1 for "to the end"); strings and 64-bit dtypes go to `stock`. */
export function fastSlice(args: Parameters<tf.KernelFunc>[0], stock: StockKernel): ReturnType<tf.KernelFunc> {
  const x = args.inputs.x as tf.TensorInfo;
  const bytes = elementBytes(x.dtype);
  if (bytes === null) return stock(args);
  const backend = asWasmHeapBackend(args.backend, 'the fast Slice kernel');
  const { begin, size: sizeAttribute } = args.attrs as unknown as tf.SliceAttrs;
  const [start, extent] = tf.slice_util.parseSliceParams(x, begin, sizeAttribute) as [number[], number[]];
  return sliceInto(backend, x, bytes, start, extent);
}

/** `SplitV` along `axis` into `numOrSizeSplits` (a count, or sizes with at most one -1); one box copy per output. */
export function fastSplitV(args: Parameters<tf.KernelFunc>[0], stock: StockKernel): ReturnType<tf.KernelFunc> {
  const x = args.inputs.x as tf.TensorInfo;
  const bytes = elementBytes(x.dtype);
  if (bytes === null) return stock(args);
  const backend = asWasmHeapBackend(args.backend, 'the fast SplitV kernel');
  const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
  const [splitAxis] = tf.util.parseAxisParam(axis, x.shape) as [number];
  const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, splitAxis);
  const begin = x.shape.map(() => 0);
  const outputs: tf.TensorInfo[] = [];
  for (const length of sizes) {
    const extent = [...x.shape];
    extent[splitAxis] = length;
    outputs.push(sliceInto(backend, x, bytes, begin, extent));
    begin[splitAxis] = (begin[splitAxis] as number) + length;
  }
  return outputs;
}

/**
 * `GatherV2`: `out[b, o, i, r] = x[b, o, indices[b, i], r]`, with b over the first `batchDims` axes (shared by `x` and
 * `indices`), o over the axes of `x` from there to `axis`, i over the remaining axes of `indices` and r over the axes
 * after `axis`; one run of the trailing axes per index. Every index is checked against `[0, x.shape[axis] - 1]` as
 * the stock kernel does, reading the int32 indices in place. (The stock 4.22 kernel mixes up batches when
 * `batchDims > 0`; this one matches the cpu backend.) Strings and 64-bit dtypes go to `stock`.
 */
export function fastGatherV2(args: Parameters<tf.KernelFunc>[0], stock: StockKernel): ReturnType<tf.KernelFunc> {
  const x = args.inputs.x as tf.TensorInfo;
  const indices = args.inputs.indices as tf.TensorInfo;
  const { axis, batchDims = 0 } = args.attrs as unknown as tf.GatherV2Attrs;
  const bytes = elementBytes(x.dtype);
  if (bytes === null || indices.dtype !== 'int32') return stock(args);
  const backend = asWasmHeapBackend(args.backend, 'the fast GatherV2 kernel');
  const [gatherAxis] = tf.util.parseAxisParam(axis, x.shape) as [number];
  const batch = size(x.shape.slice(0, batchDims));
  const outer = size(x.shape.slice(batchDims, gatherAxis));
  const dimension = x.shape[gatherAxis] as number;
  const inner = size(x.shape.slice(gatherAxis + 1));
  const count = size(indices.shape);
  const perBatch = batch === 0 ? 0 : count / batch;
  const output = backend.makeOutput(
    [...x.shape.slice(0, gatherAxis), ...indices.shape.slice(batchDims), ...x.shape.slice(gatherAxis + 1)],
    x.dtype,
  );
  const words = new Int32Array(backend.wasm.asm.memory.buffer as ArrayBuffer, heapOffset(backend, indices), count);
  for (let position = 0; position < count; position++) {
    const index = words[position] as number;
    if (!(index >= 0 && index < dimension)) {
      backend.disposeData(output.dataId);
      throw new Error(`GatherV2: the index value ${index} is not in [0, ${dimension - 1}]`);
    }
  }
  if (size(output.shape) === 0) return output;
  const view = heapView(backend, bytes);
  const source = heapOffset(backend, x) / bytes;
  let target = heapOffset(backend, output) / bytes;
  for (let row = 0; row < batch; row++) {
    for (let slab = 0; slab < outer; slab++) {
      const base = source + (row * outer + slab) * dimension * inner;
      for (let position = row * perBatch; position < (row + 1) * perBatch; position++) {
        const from = base + (words[position] as number) * inner;
        view.copyWithin(target, from, from + inner);
        target += inner;
      }
    }
  }
  return output;
}
