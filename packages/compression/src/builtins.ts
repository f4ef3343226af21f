// The five compression functions of SPEC 3.1 (Rae et al. 2019, section 3.1): max-pool, mean-pool, conv, dilated-conv, most-used.
import * as tf from '@tensorflow/tfjs';
import { blockConv, causalDilatedConv } from '@engram/kernels';
import { toBlocks } from './compressor-blocks.js';
import { checkRate, checkSeed } from './compressor-checks.js';
import { defineCompressor } from './define-compressor.js';
import type { Compressor, CompressorInput, CompressorOutput } from './compressor.js';
import { InvalidCompressionOptionError } from './errors.js';

/** Options of the pooling and most-used compressors. */
export interface RateOptions {
  /** Compression rate c: memories summarised by one compressed slot (integer >= 1). */
  rate: number;
}

/** Options of the convolutional compressors. */
export interface ConvCompressorOptions extends RateOptions {
  /** Base seed of the weight initialisation (each layer derives its own); random when omitted. */
  seed?: number;
}

/** Options of {@link createDilatedConvCompressor}. */
export interface DilatedConvCompressorOptions extends ConvCompressorOptions {
  /** Dilation of each causal convolution of the stack, bottom first (default `[1, 2, 4]`). */
  dilations?: number[];
}

/**
 * Glorot (Xavier) uniform initial value: U(-limit, limit) with `limit = sqrt(6 / (fanIn + fanOut))`.
 * @param shape variable shape
 */
function glorotUniform(shape: number[], fanIn: number, fanOut: number, seed: number): tf.Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.randomUniform(shape, -limit, limit, 'float32', seed);
}

/**
 * `max-pool`: reshape the block to `[batch, n/c, c, D]` and take the maximum over the c axis. No parameters.
 * Slot position: floor of the mean position of its c memories.
 */
export function createMaxPoolCompressor(options: RateOptions): Compressor {
  const rate = checkRate('createMaxPoolCompressor', options?.rate);
  return defineCompressor({
    kind: 'max-pool',
    rate,
    build: () => ({
      compress: ({ hidden }: CompressorInput) => tf.tidy(() => tf.max(toBlocks(hidden, rate), 2) as tf.Tensor3D),
    }),
  });
}

/**
 * `mean-pool`: reshape the block to `[batch, n/c, c, D]` and average over the c axis. No parameters.
 * Slot position: floor of the mean position of its c memories.
 */
export function createMeanPoolCompressor(options: RateOptions): Compressor {
  const rate = checkRate('createMeanPoolCompressor', options?.rate);
  return defineCompressor({
    kind: 'mean-pool',
    rate,
    build: () => ({
      compress: ({ hidden }: CompressorInput) => tf.tidy(() => tf.mean(toBlocks(hidden, rate), 2) as tf.Tensor3D),
    }),
  });
}

/**
 * `conv`: 1-D convolution with kernel = stride = c, D -> D, with bias, computed as
 * `reshape(block, [batch * n/c, c*D]) @ weight + bias` (`blockConv` of @engram/kernels).
 * Variables per layer: `weight` `[c*D, D]` (Glorot uniform), `bias` `[D]` (zeros).
 * Row `k*D + d` of `weight` reads channel d of the k-th memory of the block.
 */
export function createConvCompressor(options: ConvCompressorOptions): Compressor {
  const factory = 'createConvCompressor';
  const rate = checkRate(factory, options?.rate);
  const seed = checkSeed(factory, options?.seed);
  return defineCompressor({
    kind: 'conv',
    rate,
    trainable: true,
    ...(seed === undefined ? {} : { seed }),
    config: seed === undefined ? {} : { seed },
    build: ({ modelDim, variable, seed: layerSeedValue }) => {
      const weight = variable(
        'weight',
        glorotUniform([rate * modelDim, modelDim], rate * modelDim, modelDim, layerSeedValue),
      ) as tf.Variable<tf.Rank.R2>;
      const bias = variable('bias', tf.zeros([modelDim])) as tf.Variable<tf.Rank.R1>;
      return { compress: ({ hidden }: CompressorInput) => blockConv(hidden, weight, bias, rate) };
    },
  });
}

/**
 * `dilated-conv`: a residual stack of causal convolutions over the whole evicted block, kernel 2, D -> D, one per
 * dilation (default `[1, 2, 4]`): `y <- y + relu(conv_i(y))` for every layer but the last, `y <- y + conv_last(y)`
 * for the last; then the output at the last memory of each block of c. The receptive field reaches into earlier
 * blocks of the same evicted span (positions before its start read zeros). Each tap is a shifted slice + matmul
 * (`causalDilatedConv` of @engram/kernels). Variables per layer and convolution i: `conv{i}.weight` `[2, D, D]`
 * (Glorot uniform; tap 0 is the current memory, tap 1 the memory `dilation` steps earlier), `conv{i}.bias` `[D]`.
 * Slot position: floor of the mean position of its c memories.
 */
export function createDilatedConvCompressor(options: DilatedConvCompressorOptions): Compressor {
  const factory = 'createDilatedConvCompressor';
  const rate = checkRate(factory, options?.rate);
  const seed = checkSeed(factory, options?.seed);
  const dilations = options?.dilations ?? [1, 2, 4];
  if (
    !Array.isArray(dilations) ||
    dilations.length === 0 ||
    !dilations.every((dilation) => Number.isInteger(dilation) && dilation >= 1)
  ) {
    throw new InvalidCompressionOptionError({
      factory,
      option: 'dilations',
      expected: 'a non-empty array of integers >= 1',
      actual: JSON.stringify(options?.dilations),
      fix: 'The default is [1, 2, 4].',
    });
  }
  const kernelSize = 2;
  return defineCompressor({
    kind: 'dilated-conv',
    rate,
    trainable: true,
    ...(seed === undefined ? {} : { seed }),
    config: { dilations: [...dilations], ...(seed === undefined ? {} : { seed }) },
    build: ({ modelDim, variable, seed: layerSeedValue }) => {
      const convolutions = dilations.map((dilation, index) => ({
        dilation,
        weight: variable(
          `conv${index}.weight`,
          glorotUniform([kernelSize, modelDim, modelDim], kernelSize * modelDim, modelDim, layerSeedValue + index),
        ) as tf.Variable<tf.Rank.R3>,
        bias: variable(`conv${index}.bias`, tf.zeros([modelDim])) as tf.Variable<tf.Rank.R1>,
      }));
      return {
        compress: ({ hidden }: CompressorInput) =>
          tf.tidy(() => {
            let current: tf.Tensor3D = hidden;
            convolutions.forEach(({ dilation, weight, bias }, index) => {
              let update = causalDilatedConv(current, weight, bias, dilation);
              if (index < convolutions.length - 1) update = tf.relu(update);
              current = tf.add(current, update);
            });
            const [batch, length] = hidden.shape;
            const blocks = toBlocks(current, rate);
            const last = tf.slice(blocks, [0, 0, rate - 1, 0], [-1, -1, 1, -1]);
            return tf.reshape(last, [batch, length / rate, modelDim]) as tf.Tensor3D;
          }),
      };
    },
  });
}

/**
 * `most-used`: keep the n/c evicted memories with the highest attention usage, in their temporal order, at their
 * own positions (ties go to the earlier memory). Usage is computed by the compressive policy (SPEC 3.1: attention
 * probability received, summed over heads and queries, divided by the number of queries that could see the memory
 * while it was in regular memory). No parameters. Selection is a one-hot matmul, so no gather gradient is needed.
 */
export function createMostUsedCompressor(options: RateOptions): Compressor {
  const rate = checkRate('createMostUsedCompressor', options?.rate);
  return defineCompressor({
    kind: 'most-used',
    rate,
    needsUsage: true,
    build: () => ({
      compress: ({ hidden, positions, usage }: CompressorInput): CompressorOutput =>
        tf.tidy(() => {
          const length = hidden.shape[1];
          const keep = length / rate;
          const chosen = mostUsedIndices(usage as tf.Tensor2D, keep);
          const selection = tf.cast(tf.oneHot(chosen, length), 'float32') as tf.Tensor3D;
          return {
            hidden: tf.matMul(selection, hidden) as tf.Tensor3D,
            positions: gatherRows(positions, chosen),
          };
        }),
    }),
  });
}

/**
 * `out[b, j] = values[b, indices[b, j]]`, as one flat gather with row offsets. (`tf.gather(values, indices, 1, 1)`
 * returns wrong rows after the first on the wasm backend of tfjs 4.22.0, so batchDims is avoided.)
 * @param values int32 `[batch, n]`
 * @param indices int32 `[batch, k]` in `[0, n)`
 * @returns int32 `[batch, k]`
 */
export function gatherRows(values: tf.Tensor2D, indices: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, length] = values.shape;
    const offsets = tf.reshape(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(length, 'int32')), [batch, 1]);
    const flat: tf.Tensor = tf.reshape(values, [batch * length]);
    return tf.gather(flat, tf.add(indices, offsets)) as tf.Tensor2D;
  });
}

/**
 * Indices of the `keep` largest usages of each row, sorted ascending (temporal order); ties prefer the lower index.
 * @param usage float32 `[batch, n]`
 * @returns int32 `[batch, keep]`
 */
export function mostUsedIndices(usage: tf.Tensor2D, keep: number): tf.Tensor2D {
  return tf.tidy(() => {
    const { indices } = tf.topk(usage, keep, true);
    // Sort the chosen indices ascending: the top-k of their negation, negated back.
    const ascending = tf.neg(tf.topk(tf.neg(indices), keep, true).values);
    return tf.cast(ascending, 'int32') as tf.Tensor2D;
  });
}
