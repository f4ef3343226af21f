// UnsortedSegmentSum for the wasm backend (the gradient of tf.gather), a single linear pass in JS over heap memory.
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend } from './wasm-backend.js';

/**
 * `out[s, ...] = sum of x[i, ...] over every i with segmentIds[i] == s`.
 * x `[N..., inner...]`, segmentIds int32 with the leading shape `[N...]` of x, output `[numSegments, inner...]`,
 * dtype of x. Ids outside `[0, numSegments)` are skipped (as the cpu backend does). O(x.size), unlike the cpu
 * backend's O(numSegments * x.size).
 */
export const unsortedSegmentSumKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = asWasmBackend(backend, tf.UnsortedSegmentSum);
  const x = inputs.x as tf.TensorInfo;
  const segmentIds = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as unknown as tf.UnsortedSegmentSumAttrs).numSegments;
  const idRank = segmentIds.shape.length;
  const innerShape = x.shape.slice(idRank);
  const inner = innerShape.reduce((product, size) => product * size, 1);
  const outputShape = [numSegments, ...innerShape];
  const output = wasm.makeOutput(outputShape, x.dtype);
  // Views are taken after makeOutput: allocation may grow (and detach) the heap.
  const values = wasm.typedArrayFromHeap(x);
  const ids = wasm.typedArrayFromHeap(segmentIds);
  const result = wasm.typedArrayFromHeap(output);
  result.fill(0);
  for (let row = 0; row < ids.length; row++) {
    const segment = ids[row] as number;
    if (segment < 0 || segment >= numSegments) continue;
    const source = row * inner;
    const target = segment * inner;
    for (let k = 0; k < inner; k++) result[target + k] = (result[target + k] as number) + (values[source + k] as number);
  }
  return output;
};
