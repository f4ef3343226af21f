// The span methods' wasm kernels of native/span.c on the tfjs heap: ramp mask, its span gradient, ramp penalty, soft-masked softmax and its backward.
import type * as tf from '@tensorflow/tfjs';
import { SPAN_WASM_BASE64 } from '../wasm/span-binary.js';
import { heapModule, heapOffset } from './wasm-backend.js';

/** `spans` `[SB, SH, 1, SK]`, `distances` `[DB, 1, T, K]` (SB, DB in {1, B}; SH in {1, H}; SK in {1, K}) -> mask `[B, H, T, K]`. */
export const SPAN_MASK = 'EngramSpanMask';
/** `dy` `[B, H, T, K]`, `spans`, `distances` as {@link SPAN_MASK} -> gradient of the spans, spans' shape. */
export const SPAN_MASK_GRAD = 'EngramSpanMaskGrad';
/** `spans`, `distances` as {@link SPAN_MASK} -> `[sums, counts]` of the on-ramp remaining spans, spans' shape each. */
export const SPAN_PENALTY = 'EngramSpanPenalty';
/** `scores` `[B, H, T, K]`, `mask`, `soft` `[B or 1, H or 1, T or 1, K]` -> `[output, probabilities, denominators [B, H, T, 1]]`. */
export const SOFT_MASKED_SOFTMAX = 'EngramSoftMaskedSoftmax';
/** `dy`, `probabilities` `[B, H, T, K]`, `denominators` `[B, H, T, 1]`, `soft` -> `[gradient of the scores, gradient of soft, forward output]`. */
export const SOFT_MASKED_SOFTMAX_GRAD = 'EngramSoftMaskedSoftmaxGrad';

/** Attributes of the span kernels. */
export interface SpanKernelAttrs {
  /** R, the ramp length in tokens (> 0). */
  ramp: number;
  /** H of the output (the spans' head axis, or 1). */
  heads: number;
}

const spanModule = heapModule(SPAN_WASM_BASE64, 'the span kernels', {
  mask: 'span_mask_f32',
  maskGrad: 'span_mask_grad_f32',
  penalty: 'span_penalty_f32',
  softmax: 'soft_masked_softmax_f32',
  softmaxGrad: 'soft_masked_softmax_grad_f32',
});

/** Element strides of a rank-4 shape, 0 on every axis of size 1 (a broadcast axis). */
function broadcastStrides(shape: readonly number[]): [number, number, number, number] {
  const [a, b, c, d] = shape as [number, number, number, number];
  return [a === 1 ? 0 : b * c * d, b === 1 ? 0 : c * d, c === 1 ? 0 : d, d === 1 ? 0 : 1];
}

function checkFloat(kernel: string, infos: Record<string, tf.TensorInfo | undefined>): void {
  for (const [name, info] of Object.entries(infos)) {
    if (info === undefined || info.dtype !== 'float32' || info.shape.length !== 4) {
      throw new Error(`@engram/kernels: ${kernel} needs a float32 rank-4 ${name} input, got ${info === undefined ? 'none' : `${info.dtype} [${info.shape.join(', ')}]`}.`);
    }
  }
}

/** The ramp geometry shared by the three span kernels: `[B, H, T, K]`, the spans' strides and the distances' batch stride. */
function spanGeometry(kernel: string, spans: tf.TensorInfo, distances: tf.TensorInfo, heads: number): { dims: number[]; spanStrides: number[]; distanceStride: number } {
  const [spanBatch, , , spanKeys] = spans.shape as [number, number, number, number];
  const [distanceBatch, , queries, keys] = distances.shape as [number, number, number, number];
  const batch = Math.max(spanBatch, distanceBatch);
  const [sb, sh, , sj] = broadcastStrides(spans.shape);
  if (spans.shape[2] !== 1 || distances.shape[1] !== 1 || (spanKeys !== 1 && spanKeys !== keys)) {
    throw new Error(`@engram/kernels: ${kernel}: spans [${spans.shape.join(', ')}] and distances [${distances.shape.join(', ')}] must be [B or 1, H or 1, 1, K or 1] and [B or 1, 1, T, K].`);
  }
  return { dims: [batch, heads, queries, keys], spanStrides: [sb, sh, sj], distanceStride: distanceBatch === 1 ? 0 : queries * keys };
}

/** What every span kernel reads: the module, the checked geometry, the attributes and heap addressing. */
function spanCall(kernel: string, inputs: tf.NamedTensorInfoMap, backend: unknown, attrs: unknown) {
  const { spans, distances } = inputs as Record<string, tf.TensorInfo>;
  checkFloat(kernel, inputs as Record<string, tf.TensorInfo>);
  const { ramp, heads } = attrs as SpanKernelAttrs;
  const wasm = spanModule(backend);
  const geometry = spanGeometry(kernel, spans as tf.TensorInfo, distances as tf.TensorInfo, heads);
  const spanShape = [...(spans as tf.TensorInfo).shape];
  const at = (info: tf.TensorInfo | undefined): number => heapOffset(wasm.backend, info as tf.TensorInfo);
  // Leading arguments of every span export: the dimensions, the spans and their strides, the distances and theirs.
  const common = [...geometry.dims, at(spans), ...geometry.spanStrides, at(distances), geometry.distanceStride];
  return { wasm, ramp, spanShape, at, common, count: spanShape.reduce((product, size) => product * size, 1), dims: geometry.dims };
}

export const spanMaskKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { wasm, ramp, at, common, dims } = spanCall(SPAN_MASK, inputs, backend, attrs);
  const output = wasm.backend.makeOutput(dims, 'float32');
  if (dims.every((size) => size > 0)) wasm.mask(...common, ramp, at(output));
  return output;
};

export const spanMaskGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { wasm, ramp, spanShape, at, common, count } = spanCall(SPAN_MASK_GRAD, inputs, backend, attrs);
  const output = wasm.backend.makeOutput(spanShape, 'float32');
  // The export takes dy between the dimensions and the spans.
  if (count > 0) wasm.maskGrad(...common.slice(0, 4), at(inputs.dy), ...common.slice(4), ramp, at(output), count);
  return output;
};

export const spanPenaltyKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { wasm, ramp, spanShape, at, common, count } = spanCall(SPAN_PENALTY, inputs, backend, attrs);
  const sums = wasm.backend.makeOutput(spanShape, 'float32');
  const counts = wasm.backend.makeOutput(spanShape, 'float32');
  if (count > 0) wasm.penalty(...common, ramp, at(sums), at(counts), count);
  return [sums, counts];
};

export const softMaskedSoftmaxKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { scores, mask, soft } = inputs as Record<string, tf.TensorInfo>;
  checkFloat(SOFT_MASKED_SOFTMAX, { scores, mask, soft });
  const wasm = spanModule(backend);
  const dims = [...(scores as tf.TensorInfo).shape];
  const [mb, mh, mi] = broadcastStrides((mask as tf.TensorInfo).shape);
  const [sb, sh, si] = broadcastStrides((soft as tf.TensorInfo).shape);
  const output = wasm.backend.makeOutput(dims, 'float32');
  const probabilities = wasm.backend.makeOutput(dims, 'float32');
  const denominators = wasm.backend.makeOutput([...dims.slice(0, 3), 1], 'float32');
  const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
  if (dims.every((size) => size > 0)) {
    wasm.softmax(...dims, at(scores as tf.TensorInfo), at(mask as tf.TensorInfo), mb, mh, mi, at(soft as tf.TensorInfo), sb, sh, si, at(output), at(probabilities), at(denominators));
  }
  return [output, probabilities, denominators];
};

export const softMaskedSoftmaxGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, probabilities, denominators, soft } = inputs as Record<string, tf.TensorInfo>;
  checkFloat(SOFT_MASKED_SOFTMAX_GRAD, { dy, probabilities, denominators, soft });
  const wasm = spanModule(backend);
  const dims = [...(dy as tf.TensorInfo).shape];
  const softShape = [...(soft as tf.TensorInfo).shape];
  const [sb, sh, si] = broadcastStrides(softShape);
  const gradScores = wasm.backend.makeOutput(dims, 'float32');
  const gradSoft = wasm.backend.makeOutput(softShape, 'float32');
  const output = wasm.backend.makeOutput(dims, 'float32');
  const count = softShape.reduce((product, size) => product * size, 1);
  const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
  if (dims.every((size) => size > 0)) {
    wasm.softmaxGrad(...dims, at(dy as tf.TensorInfo), at(probabilities as tf.TensorInfo), at(denominators as tf.TensorInfo), at(soft as tf.TensorInfo), sb, sh, si, at(gradScores), at(gradSoft), at(output), count);
  } else if (count > 0) {
    (wasm.backend.typedArrayFromHeap(gradSoft) as Float32Array).fill(0);
  }
  return [gradScores, gradSoft, output];
};
