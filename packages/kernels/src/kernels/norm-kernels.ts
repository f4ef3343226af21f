// The layer-norm wasm kernels of native/norm.c on the tfjs heap: one pass forward (output, normalised x, 1/sigma) and one backward.
import type * as tf from '@tensorflow/tfjs';
import { NORM_WASM_BASE64 } from '../wasm/norm-binary.js';
import { heapModule, heapOffset } from './wasm-backend.js';

/** `x` `[..., D]`, `gamma` `[D]`, `beta` `[D]` -> `[y [..., D], normalized [..., D], inverse [..., 1]]` (inverse = 1/sigma per row). */
export const LAYER_NORM = 'EngramLayerNorm';
/** `dy` `[..., D]`, `normalized` `[..., D]`, `inverse` `[..., 1]`, `gamma` `[D]` -> `[dx [..., D], dgamma [D], dbeta [D]]`. */
export const LAYER_NORM_GRAD = 'EngramLayerNormGrad';

/** Attributes of {@link LAYER_NORM}. */
export interface LayerNormAttrs {
  /** Added to the variance (>= 0; rounded to float32 by the kernel). */
  epsilon: number;
}

const normModule = heapModule(NORM_WASM_BASE64, 'the layer norm kernels', {
  forward: 'layer_norm_f32',
  backward: 'layer_norm_grad_f32',
});

/**
 * Checks that every named input is float32 and that its shape is `rows`-by-`width` as asked, throwing an error
 * that names the input; returns the rows of the first (`[..., D]`) input.
 */
function rowsOf(kernel: string, width: number, infos: Record<string, { info: tf.TensorInfo | undefined; kind: 'rows' | 'row-scalars' | 'features' }>): number {
  let rows = -1;
  for (const [name, { info, kind }] of Object.entries(infos)) {
    const shape = info?.shape ?? [];
    const last = shape[shape.length - 1];
    const count = shape.slice(0, -1).reduce((product, extent) => product * extent, 1);
    const expected = kind === 'features' ? `[${width}]` : kind === 'rows' ? `[..., ${width}]` : '[..., 1] (one value per row)';
    const fits =
      info !== undefined &&
      info.dtype === 'float32' &&
      (kind === 'features' ? shape.length === 1 && last === width : shape.length >= 1 && last === (kind === 'rows' ? width : 1) && (rows < 0 || count === rows));
    if (!fits) {
      throw new Error(
        `@engram/kernels: ${kernel} needs a float32 ${name} input of shape ${expected}, got ${info === undefined ? 'none' : `${info.dtype} [${shape.join(', ')}]`}.`,
      );
    }
    if (kind !== 'features' && rows < 0) rows = count;
  }
  return rows;
}

export const layerNormKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo | undefined>;
  const shape = [...(x?.shape ?? [])];
  const width = shape[shape.length - 1] ?? 0;
  const rows = rowsOf(LAYER_NORM, width, { x: { info: x, kind: 'rows' }, gamma: { info: gamma, kind: 'features' }, beta: { info: beta, kind: 'features' } });
  const { epsilon } = attrs as unknown as LayerNormAttrs;
  const wasm = normModule(backend);
  const output = wasm.backend.makeOutput(shape, 'float32');
  const normalized = wasm.backend.makeOutput(shape, 'float32');
  const inverse = wasm.backend.makeOutput([...shape.slice(0, -1), 1], 'float32');
  if (rows > 0 && width > 0) {
    const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
    wasm.forward(rows, width, at(x as tf.TensorInfo), at(gamma as tf.TensorInfo), at(beta as tf.TensorInfo), epsilon, at(output), at(normalized), at(inverse));
  }
  return [output, normalized, inverse];
};

export const layerNormGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, normalized, inverse, gamma } = inputs as Record<string, tf.TensorInfo | undefined>;
  const shape = [...(dy?.shape ?? [])];
  const width = shape[shape.length - 1] ?? 0;
  const rows = rowsOf(LAYER_NORM_GRAD, width, {
    dy: { info: dy, kind: 'rows' },
    normalized: { info: normalized, kind: 'rows' },
    inverse: { info: inverse, kind: 'row-scalars' },
    gamma: { info: gamma, kind: 'features' },
  });
  const wasm = normModule(backend);
  const gradInput = wasm.backend.makeOutput(shape, 'float32');
  const gradScale = wasm.backend.makeOutput([width], 'float32');
  const gradShift = wasm.backend.makeOutput([width], 'float32');
  const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
  if (width > 0) {
    wasm.backward(rows, width, at(dy as tf.TensorInfo), at(normalized as tf.TensorInfo), at(inverse as tf.TensorInfo), at(gamma as tf.TensorInfo), at(gradInput), at(gradScale), at(gradShift));
  }
  return [gradInput, gradScale, gradShift];
};
